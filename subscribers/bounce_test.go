package subscribers_test

import (
	"context"
	"testing"

	"newsletter/db"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// What each kind of event does to a subscriber in each state. Soft
// bounces counted per campaign are tested with the delivery log, in
// mailer's intake tests.
func TestApplyBounceByState(t *testing.T) {
	for _, tc := range []struct {
		from   subscribers.Status
		kind   subscribers.BounceKind
		to     subscribers.Status
		effect string
		event  string // consent event recorded, "" none
	}{
		{subscribers.StatusActive, subscribers.BounceHard, subscribers.StatusBounced, "bounced", subscribers.EventBounced},
		{subscribers.StatusPending, subscribers.BounceHard, subscribers.StatusBounced, "bounced", subscribers.EventBounced},
		{subscribers.StatusUnsubscribed, subscribers.BounceHard, subscribers.StatusUnsubscribed, "none: already unsubscribed", ""},
		{subscribers.StatusBounced, subscribers.BounceHard, subscribers.StatusBounced, "none: already bounced", ""},
		{subscribers.StatusActive, subscribers.BounceComplaint, subscribers.StatusUnsubscribed, "unsubscribed", subscribers.EventComplained},
		{subscribers.StatusPending, subscribers.BounceComplaint, subscribers.StatusUnsubscribed, "unsubscribed", subscribers.EventComplained},
		{subscribers.StatusBounced, subscribers.BounceComplaint, subscribers.StatusUnsubscribed, "unsubscribed", subscribers.EventComplained},
		{subscribers.StatusUnsubscribed, subscribers.BounceComplaint, subscribers.StatusUnsubscribed, "none: already unsubscribed", ""},
		{subscribers.StatusActive, subscribers.BounceSoft, subscribers.StatusActive, "recorded", ""},
	} {
		t.Run(string(tc.from)+"/"+string(tc.kind), func(t *testing.T) {
			d := testkit.OpenDB(t, nil)
			st := testkit.NewStore(t, d)
			ctx := context.Background()
			id := testkit.AddSubscribers(t, st, "leser", 1, tc.from)[0]
			before, _ := st.Events(ctx, id)
			apply := func() (subscribers.BounceEvent, bool) {
				var ev subscribers.BounceEvent
				var ok bool
				err := d.InTx(ctx, func(tx *db.Tx) error {
					var err error
					ev, ok, err = subscribers.ApplyBounce(ctx, tx, subscribers.BounceEvent{
						SubscriberID: id, Kind: tc.kind, Status: "5.1.1", Diagnostic: "550 \x1b[31mno such user",
						Mail: "confirm", Source: "pipe", IdentifiedBy: "verp", ReportKey: "r1@relay",
					}, subscribers.BounceRules{})
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				return ev, ok
			}
			ev, ok := apply()
			if !ok || ev.Effect != tc.effect || ev.Address != "leser0@example.net" || ev.ID == 0 {
				t.Fatalf("applied %v: %+v, want effect %q", ok, ev, tc.effect)
			}
			sub, _ := st.FindByID(ctx, id)
			if sub.Status != tc.to {
				t.Errorf("status %s, want %s", sub.Status, tc.to)
			}
			after, _ := st.Events(ctx, id)
			switch {
			case tc.event == "" && len(after) != len(before):
				t.Errorf("consent events %+v, want none new", after[len(before):])
			case tc.event != "" && (len(after) != len(before)+1 || after[len(after)-1].Kind != tc.event):
				t.Errorf("consent events %+v, want one %s", after[len(before):], tc.event)
			}
			// The same report again: nothing changes, nothing is stored twice.
			again, ok := apply()
			if ok || again.ID != ev.ID || again.Effect != ev.Effect {
				t.Errorf("repeat: applied %v, %+v", ok, again)
			}
			evs, err := st.BounceEvents(ctx, subscribers.BounceFilter{SubscriberID: id})
			if err != nil || len(evs) != 1 {
				t.Fatalf("events %+v, %v", evs, err)
			}
			if evs[0].Kind != tc.kind || evs[0].Mail != "confirm" || evs[0].Diagnostic != "550 \x1b[31mno such user" {
				t.Errorf("stored %+v", evs[0])
			}
		})
	}
}

// Forgetting a person takes their bounce events with them.
func TestForgetErasesBounceEvents(t *testing.T) {
	d := testkit.OpenDB(t, nil)
	st := testkit.NewStore(t, d)
	ctx := context.Background()
	id := testkit.AddSubscribers(t, st, "leser", 1, subscribers.StatusActive)[0]
	if err := d.InTx(ctx, func(tx *db.Tx) error {
		_, _, err := subscribers.ApplyBounce(ctx, tx, subscribers.BounceEvent{SubscriberID: id, Kind: subscribers.BounceHard,
			Source: "pipe", IdentifiedBy: "verp", ReportKey: "r1"}, subscribers.BounceRules{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Forget(ctx, "leser0@example.net"); err != nil {
		t.Fatal(err)
	}
	evs, err := st.BounceEvents(ctx, subscribers.BounceFilter{})
	if err != nil || len(evs) != 0 {
		t.Fatalf("after forget: %+v, %v", evs, err)
	}
	counts, err := st.CountBounceEvents(ctx)
	if err != nil || len(counts) != 0 {
		t.Fatalf("counts %+v, %v", counts, err)
	}
}

// A 5xx reply during a send (MarkBounced) follows the same rule as a
// bounce report: someone who unsubscribed while the mail was in flight
// stays unsubscribed, and the event is recorded once.
func TestMarkBouncedByState(t *testing.T) {
	for _, tc := range []struct {
		from, to subscribers.Status
		event    bool
	}{
		{subscribers.StatusActive, subscribers.StatusBounced, true},
		{subscribers.StatusPending, subscribers.StatusBounced, true},
		{subscribers.StatusUnsubscribed, subscribers.StatusUnsubscribed, false},
		{subscribers.StatusBounced, subscribers.StatusBounced, false},
	} {
		t.Run(string(tc.from), func(t *testing.T) {
			d := testkit.OpenDB(t, nil)
			st := testkit.NewStore(t, d)
			ctx := context.Background()
			id := testkit.AddSubscribers(t, st, "leser", 1, tc.from)[0]
			before, _ := st.Events(ctx, id)
			for range 2 {
				if err := d.InTx(ctx, func(tx *db.Tx) error { return subscribers.MarkBounced(ctx, tx, id, "550 5.1.1 unknown") }); err != nil {
					t.Fatal(err)
				}
			}
			if sub, _ := st.FindByID(ctx, id); sub.Status != tc.to {
				t.Errorf("status %s, want %s", sub.Status, tc.to)
			}
			after, _ := st.Events(ctx, id)
			want := len(before)
			if tc.event {
				want++
			}
			if len(after) != want || tc.event && after[len(after)-1].Kind != subscribers.EventBounced {
				t.Errorf("consent events %+v, want %d in all", after, want)
			}
		})
	}
}
