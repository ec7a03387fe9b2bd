package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
	"newsletter/templates"
)

// serve's purge loop removes never-confirmed subscribers once they are
// older than --purge-pending-after, on its first pass; 0 turns it off.
func TestPurgeLoop(t *testing.T) {
	pages, err := templates.LoadPages(templates.PageOptions{ListName: "KNIEPUNKT"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after time.Duration
		kept  bool
	}{{0, true}, {30 * 24 * time.Hour, false}} {
		clock := testkit.NewClock(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
		d := testkit.OpenDB(t, clock)
		store := testkit.NewStore(t, d)
		id := testkit.AddSubscribers(t, store, "never", 1, subscribers.StatusPending)[0]
		clock.Add(31 * 24 * time.Hour)
		optin := subscribers.NewOptIn(store, pages, subscribers.OptInConfig{BaseURL: "http://news.test"})
		gone := func() bool {
			_, err := store.FindByID(context.Background(), id)
			return err == subscribers.ErrNotFound
		}
		if tc.kept {
			purgeLoop(context.Background(), slog.New(slog.DiscardHandler), optin, tc.after) // returns at once
			if gone() {
				t.Errorf("after %v: purged, want the loop off", tc.after)
			}
			continue
		}
		testkit.RunUntil(t, "the purge", func(ctx context.Context) { purgeLoop(ctx, slog.New(slog.DiscardHandler), optin, tc.after) }, gone)
	}
}
