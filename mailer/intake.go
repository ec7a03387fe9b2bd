package mailer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"newsletter/db"
	"newsletter/mailer/bounce"
	"newsletter/subscribers"
)

// The bounce and complaint intake (DESIGN "Bounces and complaints"): a
// report, read by package bounce or built from a relay's webhook event, is
// tied to the subscriber and the mail it is about, in DESIGN's order —
// the VERP address it came back to, else the returned Message-ID, else the
// recipient it names — and handed to subscribers.ApplyBounce, which does
// what it means once. What is no bounce, is forged, cannot be read or
// names no subscriber is kept for review (intake_review), never mailed
// back and never lost.

// DefaultSoftBounceLimit is --soft-bounce-limit's default: campaigns in a
// row with a soft bounce before the address counts as bounced.
const DefaultSoftBounceLimit = subscribers.DefaultSoftBounceLimit

// ErrTemporary wraps a passing failure (the database busy or unreachable):
// the pipe exits 75 so the MTA retries, IMAP leaves the message for the
// next poll, a webhook answers 503 so the relay retries. Nothing was
// changed.
var ErrTemporary = errors.New("temporary failure, try again later")

// How a report was tied to a subscriber, as `bounces ingest --dry-run`
// names it.
const (
	IdentifiedVERP           = "verp"
	IdentifiedMessageID      = "message-id"
	IdentifiedFinalRecipient = "final-recipient"
	// IdentifiedRelay is the recipient a relay's webhook event names: the
	// relay vouches for it with its signature, so the event counts as it
	// is (a relay's complaint event unsubscribes).
	IdentifiedRelay   = "relay"
	IdentifiedUnknown = "unknown"
	IdentifiedForged  = "forged"
)

// Reasons a message is kept for review besides those package bounce gives.
const (
	ReasonForged       = "forged VERP tag"
	ReasonNoSubscriber = "names no subscriber"
)

// IntakeOptions configure an Intake.
type IntakeOptions struct {
	// BounceAddress is --bounce-address: reports that come back to its
	// VERP addresses are identified by their tag. Empty: no VERP.
	BounceAddress string
	// SoftBounceLimit is --soft-bounce-limit; DefaultSoftBounceLimit when 0.
	SoftBounceLimit int
	// Secret is the installation secret (VERP tags).
	Secret []byte
	// Parser reads raw messages; the zero value has the default limits.
	Parser bounce.Parser
	Logger *slog.Logger
}

// Intake takes in bounce and complaint reports and applies them once.
// It is safe for concurrent use.
type Intake struct {
	db        *db.DB
	store     *subscribers.Store
	campaigns *CampaignStore
	verp      *verp // nil without a bounce address
	softLimit int
	parser    bounce.Parser
	log       *slog.Logger
}

// NewIntake builds the intake on the database and the subscribers store.
func NewIntake(d *db.DB, store *subscribers.Store, o IntakeOptions) (*Intake, error) {
	in := &Intake{db: d, store: store, campaigns: NewCampaignStore(d), softLimit: o.SoftBounceLimit, parser: o.Parser, log: o.Logger}
	if in.softLimit <= 0 {
		in.softLimit = DefaultSoftBounceLimit
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	if o.BounceAddress != "" {
		v, err := newVERP(o.BounceAddress, o.Secret)
		if err != nil {
			return nil, fmt.Errorf("bounce address: %w", err)
		}
		in.verp = v
	}
	return in, nil
}

// IntakeResult says what one report did (or, dry run, would do).
type IntakeResult struct {
	// Lines are DESIGN's dry-run lines: per event "KIND STATUS ADDRESS"
	// and how the subscriber was identified (verp, message-id,
	// final-recipient, unknown, forged), then the subscriber's address when
	// it is not the one the report names; or "none REASON". Outside a dry
	// run each line goes on with ": " and what it did ("bounced",
	// "kept for review", ...).
	Lines []string
	// Applied is how many events changed something now (0 on a repeat).
	Applied int
	// Kept is set when the message was kept for review (not a bounce,
	// forged, unreadable, or naming no subscriber).
	Kept bool
	// Reason is why the message states no event, when it states none.
	Reason bounce.Reason
}

// Ingest reads one raw message (as received: from a pipe, a file, mbox,
// Maildir or IMAP) and applies what it reports. source says how it came
// (pipe, file, mbox, maildir, imap) and is stored with each event.
func (in *Intake) Ingest(ctx context.Context, source string, raw []byte, dryRun bool) (*IntakeResult, error) {
	rep, err := in.parser.Parse(bytes.NewReader(raw))
	if err != nil {
		// A bytes.Reader does not fail; keep the message all the same.
		rep = &bounce.Report{Reason: bounce.Unreadable, Problem: err.Error()}
	}
	key := rep.MessageID
	if key == "" {
		key = "sha256:" + ContentHash(raw)
	}
	return in.apply(ctx, source, rep, key, raw, dryRun, IdentifiedFinalRecipient)
}

// Apply takes a report built from a relay's webhook event, after the
// caller has checked the relay's signature. r.MessageID is the idempotency
// key ("mailgun:<event id>" etc.); without one the report's content is.
// The report is tied to the subscriber like mail (VERP in r.ReturnPath or
// r.DeliveredTo, then r.OriginalMessageID), and else by the recipient the
// event names, which the relay vouches for: unlike a recipient named in
// mail (Ingest), that counts as the event says ("relay"), so a relay's
// complaint or hard bounce has its full effect.
func (in *Intake) Apply(ctx context.Context, source string, r *bounce.Report) (*IntakeResult, error) {
	// What is kept for review of a report that came without a message.
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	key := r.MessageID
	if key == "" {
		key = "sha256:" + ContentHash(raw)
	}
	return in.apply(ctx, source, r, key, raw, false, IdentifiedRelay)
}

// target is what a report or one of its events was tied to.
type target struct {
	how          string // one of the Identified* names
	subscriberID int64  // 0: nobody (unknown, forged, erased, a test copy)
	email        string // the subscriber's address
	campaignID   int64
	column       int
	mail         string // "column", an outbox kind, "test copy"
	gone         string // why a mail we sent has nobody to apply to
}

// apply ties the report's events to subscribers and, unless dryRun,
// applies them and keeps what it cannot use, in one transaction.
//
// byRecipient is how an event tied only by the recipient it names is
// identified: IdentifiedFinalRecipient (mail) or IdentifiedRelay.
func (in *Intake) apply(ctx context.Context, source string, rep *bounce.Report, key string, raw []byte, dryRun bool, byRecipient string) (*IntakeResult, error) {
	res := &IntakeResult{}
	keep := func(reason string) error {
		res.Kept = true
		if dryRun {
			return nil
		}
		err := in.write(ctx, func(tx *db.Tx) error {
			return keepForReview(ctx, tx, key, source, reason, rep.From, rep.Subject, raw)
		})
		if err != nil {
			return temporary(err)
		}
		for i := range res.Lines {
			res.Lines[i] += ": kept for review"
		}
		return nil
	}
	if len(rep.Events) == 0 {
		res.Reason = orReason(rep.Reason)
		res.Lines = append(res.Lines, rep.NoneLine())
		return res, keep(string(orReason(rep.Reason)))
	}
	whole, err := in.identifyReport(ctx, rep)
	if err != nil {
		return nil, temporary(err)
	}
	if whole.how == IdentifiedForged {
		for _, ev := range rep.Events {
			res.Lines = append(res.Lines, ev.String()+" "+IdentifiedForged)
		}
		in.log.Warn("bounce report with a forged VERP tag kept for review", "source", source, "report", key)
		return res, keep(ReasonForged)
	}
	targets := make([]target, len(rep.Events))
	anyone := false
	for i, ev := range rep.Events {
		t := whole
		if t.how == "" {
			if t, err = in.identifyRecipient(ctx, ev, byRecipient); err != nil {
				return nil, temporary(err)
			}
		}
		targets[i] = t
		anyone = anyone || t.subscriberID != 0 || t.gone != ""
		res.Lines = append(res.Lines, eventLine(ev, t))
	}
	if !anyone {
		return res, keep(ReasonNoSubscriber)
	}
	if dryRun {
		return res, nil
	}
	effects := make([]string, len(rep.Events))
	applied := 0
	err = in.write(ctx, func(tx *db.Tx) error {
		applied = 0
		for i, ev := range rep.Events {
			t := targets[i]
			if t.subscriberID == 0 {
				effects[i] = t.gone
				if effects[i] == "" {
					effects[i] = "no subscriber"
				}
				continue
			}
			be, err := in.bounceEvent(ctx, tx, source, key, ev, t)
			if err != nil {
				return err
			}
			stored, ok, err := subscribers.ApplyBounce(ctx, tx, be, subscribers.BounceRules{SoftLimit: in.softLimit, History: in.campaigns})
			if err != nil {
				return err
			}
			if !ok {
				effects[i] = "repeat, taken in before (" + stored.Effect + ")"
				continue
			}
			applied++
			effects[i] = stored.Effect
		}
		return nil
	})
	if err != nil {
		return nil, temporary(err)
	}
	res.Applied = applied
	for i := range res.Lines {
		res.Lines[i] += ": " + effects[i]
	}
	if applied > 0 {
		in.log.Debug("bounce report taken in", "source", source, "report", key, "events", applied)
	}
	return res, nil
}

// bounceEvent is the event as subscribers stores it. A report tied to the
// subscriber only by the recipient it names is about the newest campaign
// the subscriber's server accepted; in mail it counts at most as a soft
// bounce (anyone can write such a report).
func (in *Intake) bounceEvent(ctx context.Context, tx *db.Tx, source, key string, ev bounce.Event, t target) (subscribers.BounceEvent, error) {
	be := subscribers.BounceEvent{
		SubscriberID: t.subscriberID, Kind: subscribers.BounceKind(ev.Kind), Status: ev.Status, Diagnostic: ev.Diagnostic,
		CampaignID: t.campaignID, Column: t.column, Mail: t.mail, Source: source, IdentifiedBy: t.how, ReportKey: key,
	}
	if t.how == IdentifiedFinalRecipient {
		be.Kind = subscribers.BounceSoft
	}
	if t.how == IdentifiedFinalRecipient || t.how == IdentifiedRelay {
		m, err := in.campaigns.latestSentTx(ctx, tx, t.subscriberID)
		switch {
		case err == nil:
			be.CampaignID, be.Column, be.Mail = m.CampaignID, m.Column, "column"
		case !errors.Is(err, errNoDelivery):
			return be, err
		}
	}
	return be, nil
}

// identifyReport ties the whole report to one mail: by the VERP address it
// came back to (Delivered-To and the like, or, for a complaint from a
// feedback loop, the returned message's envelope sender), else by the
// returned Message-ID. how is "" when neither says anything; a tag that
// does not verify makes the report forged, with no fallback.
func (in *Intake) identifyReport(ctx context.Context, rep *bounce.Report) (target, error) {
	if in.verp != nil {
		addrs := append(append([]string(nil), rep.DeliveredTo...), rep.ReturnPath)
		var found *mailRef
		for _, a := range addrs {
			tag, tagged := in.verp.tagOf(a)
			if !tagged {
				continue
			}
			ref, err := in.verp.open(tag)
			if err != nil {
				return target{how: IdentifiedForged}, nil
			}
			if found == nil {
				found = &ref
			}
		}
		if found != nil {
			return in.resolve(ctx, *found)
		}
	}
	if id := strings.Trim(rep.OriginalMessageID, "<> "); id != "" {
		m, err := in.campaigns.findByMessageID(ctx, id)
		switch {
		case err == nil:
			return in.columnTarget(ctx, IdentifiedMessageID, m)
		case !errors.Is(err, errNoDelivery):
			return target{}, err
		}
		o, err := db.FindOutboxByMessageID(ctx, in.db, id)
		switch {
		case err == nil:
			return in.outboxTarget(ctx, IdentifiedMessageID, o)
		case !errors.Is(err, db.ErrNoOutboxMail):
			return target{}, err
		}
	}
	return target{}, nil
}

// resolve finds the mail a verified tag names.
func (in *Intake) resolve(ctx context.Context, ref mailRef) (target, error) {
	switch ref.Kind {
	case refCampaign:
		m, err := in.campaigns.findDelivery(ctx, ref.CampaignID, ref.SubscriberID)
		if errors.Is(err, errNoDelivery) {
			return target{how: IdentifiedVERP, gone: "none: the subscriber was erased"}, nil
		}
		if err != nil {
			return target{}, err
		}
		return in.columnTarget(ctx, IdentifiedVERP, m)
	case refOutbox:
		o, err := db.FindOutbox(ctx, in.db, ref.OutboxID)
		if errors.Is(err, db.ErrNoOutboxMail) {
			return target{how: IdentifiedVERP, gone: "none: the subscriber was erased"}, nil
		}
		if err != nil {
			return target{}, err
		}
		return in.outboxTarget(ctx, IdentifiedVERP, o)
	default: // refTest
		return target{how: IdentifiedVERP, mail: "test copy", gone: "none: a test copy (send --to), which records nothing"}, nil
	}
}

func (in *Intake) columnTarget(ctx context.Context, how string, m sentMail) (target, error) {
	t := target{how: how, campaignID: m.CampaignID, column: m.Column, mail: "column"}
	return in.withSubscriber(ctx, t, m.SubscriberID)
}

func (in *Intake) outboxTarget(ctx context.Context, how string, o db.OutboxRef) (target, error) {
	t := target{how: how, mail: o.Kind}
	if o.SubscriberID == 0 {
		// A mail to no subscriber (a proof to --proof-to); an erased
		// subscriber's outbox rows are gone with them.
		t.gone = "none: a " + o.Kind + " mail, which goes to no subscriber"
		return t, nil
	}
	return in.withSubscriber(ctx, t, o.SubscriberID)
}

func (in *Intake) withSubscriber(ctx context.Context, t target, id int64) (target, error) {
	if id == 0 {
		t.gone = "none: the subscriber was erased"
		return t, nil
	}
	sub, err := in.store.FindByID(ctx, id)
	if errors.Is(err, subscribers.ErrNotFound) {
		t.gone = "none: the subscriber was erased"
		return t, nil
	}
	if err != nil {
		return target{}, err
	}
	t.subscriberID, t.email = sub.ID, sub.Email
	return t, nil
}

// identifyRecipient ties one event to the subscriber with the address it
// names (the DSN's Final-Recipient, else its Original-Recipient); how says
// whose word that is.
func (in *Intake) identifyRecipient(ctx context.Context, ev bounce.Event, how string) (target, error) {
	for _, a := range []string{ev.Recipient, ev.OriginalRecipient} {
		if a == "" {
			continue
		}
		sub, err := in.store.FindByEmail(ctx, a)
		if err == nil {
			return target{how: how, subscriberID: sub.ID, email: sub.Email}, nil
		}
		var ie *subscribers.InvalidError
		if !errors.Is(err, subscribers.ErrNotFound) && !errors.As(err, &ie) {
			return target{}, err
		}
	}
	return target{how: IdentifiedUnknown}, nil
}

// eventLine is the dry-run line of one event: what the report states and
// how it was tied to a subscriber, with the subscriber's address when the
// report names another (or none).
func eventLine(ev bounce.Event, t target) string {
	line := ev.String() + " " + t.how
	if t.email != "" && !strings.EqualFold(t.email, ev.Recipient) {
		line += " " + t.email
	}
	return line
}

func orReason(r bounce.Reason) bounce.Reason {
	if r == "" {
		return bounce.NotReport
	}
	return r
}

// write runs fn in a transaction.
func (in *Intake) write(ctx context.Context, fn func(tx *db.Tx) error) error {
	return in.db.InTx(ctx, fn)
}

// temporary marks a failure of the database (or a cancelled context) as
// passing: the report can be taken in again later and nothing was changed.
func temporary(err error) error {
	if err == nil || errors.Is(err, ErrTemporary) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrTemporary, err)
}
