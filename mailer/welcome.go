package mailer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"newsletter/columns"
	"newsletter/db"
	"newsletter/subscribers"
	"newsletter/templates"
)

// WelcomeMode is the form of the welcome mail: one of the Welcome*
// constants.
type WelcomeMode string

// The forms of the welcome mail.
const (
	WelcomeLatest WelcomeMode = "latest" // greeting, then the newest sent column as subscribers got it
	WelcomeNote   WelcomeMode = "note"   // greeting and the archive link
	WelcomeOff    WelcomeMode = "off"    // none
)

// Valid reports whether m is one of the forms of the welcome mail.
func (m WelcomeMode) Valid() bool {
	switch m {
	case WelcomeLatest, WelcomeNote, WelcomeOff:
		return true
	}
	return false
}

// Welcome renders the welcome mails that subscribers.OptIn.Confirm queues
// in the outbox (db.OutboxKindWelcome). It lives here, not with the
// confirmation mail, because it needs what only the mailer has: the sent
// campaigns and the column renderer, so the column in it is the very mail
// subscribers got. RunOutbox sends it like every outbox mail, with the
// List-Unsubscribe headers of a column mail.
type Welcome struct {
	m       *Mailer
	mode    WelcomeMode
	archive *Archive
	mail    *templates.WelcomeMail

	mu   sync.Mutex
	col  *columns.Column // the column prep was rendered from
	prep ColumnMail
}

var _ OutboxMails = (*Welcome)(nil)

// NewWelcome returns the renderer of welcome mails in mode (WelcomeLatest,
// WelcomeNote or WelcomeOff), reading the newest column from archive and
// rendering it with m's renderer, the greeting with mail.
func (m *Mailer) NewWelcome(mode WelcomeMode, archive *Archive, mail *templates.WelcomeMail) (*Welcome, error) {
	if !mode.Valid() {
		return nil, fmt.Errorf("welcome mail %q: want %s, %s or %s", mode, WelcomeLatest, WelcomeNote, WelcomeOff)
	}
	if mode != WelcomeOff && (archive == nil || mail == nil) {
		return nil, errors.New("welcome mail: needs the archive and the welcome templates")
	}
	return &Welcome{m: m, mode: mode, archive: archive, mail: mail}, nil
}

// RenderOutbox renders the welcome mail of a queued item for the
// subscriber as they are now (language, name). One who left before it went
// out, or a welcome queued before --welcome was turned off, needs none:
// db.ErrOutboxCancelled. With WelcomeLatest and no column sent yet, the
// mail is the note.
func (w *Welcome) RenderOutbox(ctx context.Context, it db.OutboxItem) (templates.RenderedMail, error) {
	if it.Kind != db.OutboxKindWelcome {
		return templates.RenderedMail{}, fmt.Errorf("outbox item %d: kind %q is not a welcome mail", it.ID, it.Kind)
	}
	if w.mode == WelcomeOff {
		return templates.RenderedMail{}, db.ErrOutboxCancelled
	}
	sub, err := w.m.store.FindByID(ctx, it.SubscriberID)
	if errors.Is(err, subscribers.ErrNotFound) || (err == nil && !sub.Mailable()) {
		return templates.RenderedMail{}, db.ErrOutboxCancelled
	}
	if err != nil {
		return templates.RenderedMail{}, fmt.Errorf("render welcome mail %d: %w", it.ID, err)
	}
	d := templates.WelcomeData{Email: it.Recipient, Name: sub.Name, UnsubscribeURL: w.m.unsubscribeURL(sub.ID)}
	if w.mode == WelcomeNote {
		return w.mail.Note(sub.Lang, d)
	}
	newest, err := w.archive.Newest(ctx, 1)
	if err != nil {
		return templates.RenderedMail{}, fmt.Errorf("render welcome mail %d: %w", it.ID, err)
	}
	if len(newest) == 0 {
		return w.mail.Note(sub.Lang, d)
	}
	d.Column = newest[0].Column
	prep, err := w.prepared(d.Column)
	if err != nil {
		return templates.RenderedMail{}, fmt.Errorf("render welcome mail %d: %w", it.ID, err)
	}
	col := prep.Personalize(templates.Recipient{Email: d.Email, Name: d.Name, UnsubscribeURL: d.UnsubscribeURL})
	return w.mail.WithColumn(sub.Lang, d, col)
}

// prepared renders col once for as long as it is the newest: welcome
// mails come in bursts when a link goes round.
func (w *Welcome) prepared(col *columns.Column) (ColumnMail, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.col == col {
		return w.prep, nil
	}
	prep, err := w.m.renderer.Prepare(col)
	if err != nil {
		return nil, fmt.Errorf("render column %03d: %w", col.Number, err)
	}
	w.col, w.prep = col, prep
	return prep, nil
}

// OutboxSent has nothing to record: the outbox row (kind, time,
// Message-ID) is the record, and `subscribers show` lists it.
func (w *Welcome) OutboxSent(context.Context, *db.Tx, db.OutboxItem, string) error { return nil }

// OutboxByKind sends each outbox item to the renderer of its kind: serve
// drains confirmation mails (subscribers.OptIn), welcome mails (Welcome)
// and proofs (Proofs) through one worker.
type OutboxByKind map[string]OutboxMails

var _ OutboxMails = OutboxByKind(nil)

// RenderOutbox asks the renderer of its kind; a kind without one is an
// error (logged and retried, in case a newer process knows it).
func (o OutboxByKind) RenderOutbox(ctx context.Context, it db.OutboxItem) (templates.RenderedMail, error) {
	c, ok := o[it.Kind]
	if !ok {
		return templates.RenderedMail{}, fmt.Errorf("outbox item %d: no renderer for kind %q", it.ID, it.Kind)
	}
	return c.RenderOutbox(ctx, it)
}

// OutboxSent tells the renderer of its kind.
func (o OutboxByKind) OutboxSent(ctx context.Context, tx *db.Tx, it db.OutboxItem, messageID string) error {
	if c, ok := o[it.Kind]; ok {
		return c.OutboxSent(ctx, tx, it, messageID)
	}
	return nil
}
