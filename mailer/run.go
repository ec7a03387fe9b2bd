package mailer

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"newsletter/columns"
	"newsletter/subscribers"
	"newsletter/templates"
)

// Plan is what the scheduler's job would do now: the columns' "new" rule
// decided (New, and Why when nothing is new) and the unfinished campaigns
// to resume.
type Plan struct {
	*columns.Plan
	Resume []*Campaign // unfinished campaigns, by column number
	// HeldCampaigns are the unfinished campaigns on hold: not resumed
	// (columns.Plan.Held has the held columns that would be new).
	HeldCampaigns []*Campaign

	history columns.History // what the rule was decided on
}

// ErrAlreadySent refuses to send a column whose campaign is finished.
var ErrAlreadySent = errors.New("column was already sent")

// ErrNotDue refuses to send a column before its publish date.
var ErrNotDue = errors.New("column is not due yet")

// ErrNoColumn is returned for a column number no file has.
var ErrNoColumn = errors.New("no such column")

// Plan discovers the columns and decides what a run would send now.
func (m *Mailer) Plan(ctx context.Context) (*Plan, error) {
	camps, err := m.campaigns.List(ctx, CampaignFilter{})
	if err != nil {
		return nil, err
	}
	return PlanColumns(ctx, m.opts.ColumnsDir, m.opts.Location, m.sources(), camps, m.holds, m.db.Now())
}

// PlanColumns is Mailer.Plan for the commands that read the columns but
// send nothing (`columns`, `preview`): it discovers the columns of dir and
// sources (the feed) and decides, given camps (CampaignStore.List) and
// holds (nil: none), what a run would send at now.
func PlanColumns(ctx context.Context, dir string, loc *time.Location, sources []columns.Provider, camps []*Campaign, holds *Holds, now time.Time) (*Plan, error) {
	h := historyOf(camps)
	if holds != nil {
		var err error
		if h.Held, err = holds.Words(ctx); err != nil {
			return nil, err
		}
	}
	cp, err := columns.DecideSources(ctx, dir, loc, sources, h, now)
	if err != nil {
		return nil, err
	}
	p := &Plan{Plan: cp, history: h}
	for _, c := range camps {
		_, held := h.Held[c.Number]
		switch {
		case c.Finished():
		case held:
			p.HeldCampaigns = append(p.HeldCampaigns, c)
		default:
			p.Resume = append(p.Resume, c)
		}
	}
	return p, nil
}

// HeldWhy is the reason column number is held ("held by admin at TIME"),
// or "" when it is not.
func (p *Plan) HeldWhy(number int) string {
	why, _ := p.Plan.HeldWhy(number)
	return why
}

// historyOf is what the campaigns tell the columns' "new" rule.
func historyOf(camps []*Campaign) columns.History {
	h := columns.History{Sent: map[int]bool{}, Sending: map[int]bool{}}
	for _, c := range camps {
		h.Sent[c.Number] = true
		if !c.Finished() {
			h.Sending[c.Number] = true
		}
	}
	return h
}

// RunDue is the scheduler's job: make the Plan and run it (see RunPlan),
// holding the send lock for the whole job.
func (m *Mailer) RunDue(ctx context.Context, ro RunOptions) ([]*RunResult, error) {
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	p, err := m.Plan(ctx)
	if err != nil {
		return nil, err
	}
	return m.runPlan(ctx, p, ro)
}

// RunPlan runs p, a Plan just made: resume the unfinished campaigns, then
// start and send every new due column, oldest first, as the plan parsed it
// (nothing is read or parsed again). It goes on past a failing campaign
// (one whose column cannot be rendered, say) and returns one error for
// all, each distinct one counted once (see joinErrors). Once the SMTP
// server proved unreachable, the campaigns after it are still started but
// make one pass only (ending at once while the server is down), so ro.Wait
// is not spent again for each. A server that cannot be used as configured
// (ErrSMTPConfig) stops the job at once: every campaign would fail alike,
// and a new one is better started once mail can go out.
func (m *Mailer) RunPlan(ctx context.Context, p *Plan, ro RunOptions) ([]*RunResult, error) {
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	return m.runPlan(ctx, p, ro)
}

func (m *Mailer) runPlan(ctx context.Context, p *Plan, ro RunOptions) ([]*RunResult, error) {
	for _, pe := range p.Problems {
		m.log.Warn("column file skipped", "problem", pe.Error())
	}
	for _, ue := range p.Unread {
		m.log.Warn("feed not read: nothing new goes out until it can be read; tried again on the next run",
			"feed", ue.Source, "err", ue.Err.Error())
	}
	for _, c := range p.HeldCampaigns {
		m.log.Info("held campaign not resumed; its pending deliveries wait until it is released", "column", c.Number, "why", p.HeldWhy(c.Number))
	}
	for _, col := range p.Plan.Held {
		m.log.Info("held column not sent", "column", col.Number, "why", p.HeldWhy(col.Number))
	}
	var results []*RunResult
	var errs []error
	seen := map[string]bool{}
	addErr := func(err error) {
		if errors.Is(err, ErrSMTPUnreachable) {
			ro.Wait = 0
		}
		if !seen[err.Error()] {
			seen[err.Error()] = true
			errs = append(errs, err)
		}
	}
	// run sends one campaign and says whether the job must stop: on
	// cancellation (err is returned as is) or a configuration error.
	run := func(c *Campaign) (stop bool, err error) {
		res, err := m.runCampaign(ctx, c, ro)
		if res != nil {
			results = append(results, res)
		}
		switch {
		case err == nil:
			return false, nil
		case ctx.Err() != nil:
			return true, err
		case errors.Is(err, ErrHeld):
			return false, nil // logged by the run; res.Held says so
		}
		addErr(err)
		return errors.Is(err, ErrSMTPConfig), nil
	}
	for _, c := range p.Resume {
		m.log.Info("resuming unfinished campaign", "column", c.Number)
		if stop, err := run(c); stop {
			return results, cmp.Or(err, m.joinErrors(errs))
		}
	}
	if len(p.New) == 0 && len(p.Resume) == 0 && len(p.Plan.Held) == 0 && len(p.HeldCampaigns) == 0 {
		m.log.Info("nothing to send", "why", p.Why())
	}
	for _, col := range p.New {
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
		c, err := m.campaigns.Start(ctx, col)
		if errors.Is(err, ErrCampaignExists) {
			// Another sender started it a moment ago; help it finish.
			c, err = m.campaigns.Find(ctx, col.Number)
		}
		if errors.Is(err, ErrNoRecipients) {
			// Not a failure of the run: nobody is there to get it yet.
			m.log.Warn("column not sent: no confirmed subscriber; it stays new and goes out on a run after the first confirmation",
				"column", col.Number, "subject", col.Subject)
			if ro.NotStarted != nil {
				ro.NotStarted(col, err)
			}
			continue
		}
		if err != nil {
			addErr(err)
			continue
		}
		m.log.Info("campaign started", "column", col.Number, "subject", col.Subject, "recipients", c.Recipients)
		if stop, err := run(c); stop {
			return results, cmp.Or(err, m.joinErrors(errs))
		}
	}
	return results, m.joinErrors(errs)
}

// joinErrors makes one error of a run's errors, for the CLI's one line on
// stderr: the first one's text and how many more there were (each of
// those is logged). errors.Is and errors.As see all of them.
func (m *Mailer) joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	for _, err := range errs[1:] {
		m.log.Error("campaign run failed", "err", err.Error())
	}
	return &runErrors{errs: errs}
}

// runErrors are several errors of one run, shown as one line.
type runErrors struct{ errs []error }

func (e *runErrors) Error() string {
	return fmt.Sprintf("%s (and %d more, logged above)", oneLine(e.errs[0].Error()), len(e.errs)-1)
}

func (e *runErrors) Unwrap() []error { return e.errs }

// StartColumn returns the campaign for column number, starting it when it
// has none: what `send --column N` runs. A finished campaign gets
// ErrAlreadySent, a column before its publish date ErrNotDue, a held one
// (a campaign under way too) a *HeldError, a column no subscriber would
// get ErrNoRecipients (and stays new).
func (m *Mailer) StartColumn(ctx context.Context, number int) (*Campaign, error) {
	c, err := m.campaigns.Find(ctx, number)
	if err == nil && c.Finished() {
		return nil, fmt.Errorf("column %03d: %w on %s to %d recipients; one campaign per column",
			number, ErrAlreadySent, c.FinishedAt.In(m.opts.Location).Format("2006-01-02 15:04"), c.Recipients)
	}
	if herr := m.holds.Check(ctx, number); herr != nil {
		return nil, herr
	}
	switch {
	case err == nil:
		return c, nil
	case !errors.Is(err, ErrNoCampaign):
		return nil, err
	}
	col, err := m.FindColumn(ctx, number)
	if err != nil {
		return nil, err
	}
	if !col.Due(m.db.Now()) {
		return nil, fmt.Errorf("column %03d: %w (publish date %s)", number, ErrNotDue,
			col.Date.In(m.opts.Location).Format("2006-01-02 15:04 MST"))
	}
	c, err = m.campaigns.Start(ctx, col)
	if errors.Is(err, ErrCampaignExists) {
		return m.campaigns.Find(ctx, number)
	}
	return c, err
}

// FindColumn parses the columns folder (and reads the feed) and returns
// column number. A feed that cannot be read is an error: the number might
// be claimed twice.
func (m *Mailer) FindColumn(ctx context.Context, number int) (*columns.Column, error) {
	cols, _, unread, err := columns.DiscoverSources(ctx, m.opts.ColumnsDir, m.opts.Location, m.sources())
	if err != nil {
		return nil, err
	}
	if len(unread) > 0 {
		return nil, fmt.Errorf("column %03d: %w", number, unread[0])
	}
	col := columns.Find(cols, number)
	if col == nil {
		return nil, fmt.Errorf("column %03d: %w in %s", number, ErrNoColumn, m.where())
	}
	return col, nil
}

// sources are where columns come from besides the folder.
func (m *Mailer) sources() []columns.Provider {
	if m.opts.Feed == nil {
		return nil
	}
	return []columns.Provider{m.opts.Feed}
}

// where names the places columns come from, for messages.
func (m *Mailer) where() string {
	if m.opts.Feed == nil {
		return m.opts.ColumnsDir
	}
	return m.opts.ColumnsDir + " or " + m.opts.Feed.Name()
}

// SendTest sends one copy of col to address and records nothing: the
// admin's test mail. When the address belongs to a subscriber, the copy
// carries their real unsubscribe link; otherwise a dummy one.
func (m *Mailer) SendTest(ctx context.Context, col *columns.Column, address string) error {
	email, _, err := subscribers.NormalizeEmail(address)
	if err != nil {
		return err
	}
	prep, err := m.renderer.Prepare(col)
	if err != nil {
		return fmt.Errorf("render column %03d: %w", col.Number, err)
	}
	name := ""
	unsub := m.opts.BaseURL + "/unsubscribe?token=TEST"
	if sub, err := m.store.FindByEmail(ctx, email); err == nil {
		name, unsub = sub.Name, m.unsubscribeURL(sub.ID)
	}
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return fmt.Errorf("test message id: %w", err)
	}
	msgID := fmt.Sprintf("c%d.test.%s@%s", col.Number, hex.EncodeToString(r[:]), m.from.domain)
	rm := prep.Personalize(templates.Recipient{Email: email, Name: name, UnsubscribeURL: unsub})
	// Marked, so a test copy is never mistaken for the real issue.
	rm.Subject = "[Test] " + rm.Subject
	var buf bytes.Buffer
	env := envelope{ToEmail: email, ToName: name, Mail: rm, MessageID: msgID, UnsubscribeURL: unsub, Date: time.Now()}
	if err := m.composer.compose(env, &buf); err != nil {
		return err
	}
	// The test copy goes through the one send path like every mail: an
	// unreachable server or one that cannot be used as configured is
	// reported as such, at once (an admin waits for the answer).
	conn, err := m.sender.newConn(nil)
	if err != nil {
		return err
	}
	defer conn.close()
	v, reply, err := m.sender.send(ctx, conn, time.Time{}, m.returnPath(mailRef{Kind: refTest}), email, buf.Bytes(), nil)
	if err != nil {
		return fmt.Errorf("test copy to %s not sent: %w", email, err)
	}
	if v != verdictSent {
		return fmt.Errorf("test copy to %s not accepted: %s", email, reply)
	}
	return nil
}
