package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"newsletter/columns"
	"newsletter/mailer"
	"newsletter/templates"
)

// sendOptions are the flags of `newsletter send`.
type sendOptions struct {
	Column int    // send this column instead of the new one(s)
	To     string // send a test copy to this one address; record nothing
	DryRun bool   // show what would be sent to how many; send nothing
}

// newMailer builds the mailer from the configuration, rendering with renderer.
func newMailer(env *Env, app *App, renderer *templates.MailRenderer) (*mailer.Mailer, error) {
	cfg := env.Cfg
	opts := mailer.Options{
		SMTPAddr:     cfg.SMTPAddr,
		SMTPUser:     cfg.SMTPUser,
		SMTPPassword: cfg.SMTPPassword,
		SMTPTLS:      cfg.SMTPTLS,
		RootCAs:      cfg.SMTPRootCAs,
		From:         cfg.From,
		BaseURL:      cfg.BaseURL,
		ListName:     cfg.ListName,
		FeedbackID:   cfg.FeedbackID,
		Workers:      cfg.Workers,
		Rate:         cfg.Rate,
		RetryBackoff: cfg.RetryBackoff,
		RetryFor:     cfg.RetryFor,
		Lease:        cfg.Lease,
		ColumnsDir:   cfg.Columns,
		Feed:         newFeed(cfg),
		Location:     cfg.Location,
		Secret:       app.Key,
		Logger:       env.Log,

		BounceAddress: cfg.BounceAddress,
	}
	if cfg.DKIMKey != "" {
		// finish checked that all of DKIM is given, the domain defaulting
		// to the From domain.
		opts.DKIM = &mailer.DKIMOptions{Domain: cfg.DKIMDomain, Selector: cfg.DKIMSelector, KeyFile: cfg.DKIMKey}
	}
	return mailer.New(app.DB, app.Store, mailer.TemplateRenderer(renderer), opts)
}

// sendCommand is `newsletter send`: the scheduler's job at once, with
// progress and a summary. It returns nil when every campaign it ran came to
// its end, and an error when something is left (retries for serve, an
// interrupt, an SMTP server that cannot be used or was unreachable for all
// of --wait).
func sendCommand(ctx context.Context, env *Env, opts sendOptions) error {
	// A mistyped --db must not become a new, empty list: a campaign
	// started on it would burn the column.
	app, err := openExistingApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	renderer, err := newMailRenderer(env.Cfg)
	if err != nil {
		return err
	}
	m, err := newMailer(env, app, renderer)
	if err != nil {
		return err
	}
	switch {
	case opts.To != "":
		return sendTestCopy(ctx, env, m, opts)
	case opts.DryRun:
		return sendDryRun(ctx, env, app, m, opts)
	}

	rep := newProgressReporter(env)
	var notStarted []string
	ro := mailer.RunOptions{Wait: env.Cfg.Wait, Progress: rep.progress, Started: rep.started,
		NotStarted: func(col *columns.Column, why error) {
			notStarted = append(notStarted, fmt.Sprintf("Column %03d %q not sent: %v; it stays new and goes out on the first send after someone has confirmed.",
				col.Number, col.Subject, errors.Unwrap(why)))
		}}
	var results []*mailer.RunResult
	var runErr error
	if opts.Column != 0 {
		c, err := m.StartColumn(ctx, opts.Column)
		if errors.Is(err, mailer.ErrHeld) {
			return fmt.Errorf("%w; `newsletter release %d` lets it go", err, opts.Column)
		}
		if errors.Is(err, mailer.ErrNoRecipients) {
			return fmt.Errorf("%w; nothing was started, the column stays new", err)
		}
		if err != nil {
			return err
		}
		res, err := m.RunCampaign(ctx, c, ro)
		if res != nil {
			results = append(results, res)
		}
		if errors.Is(err, mailer.ErrHeld) && res != nil {
			err = nil // held while it ran: res.Held says so below
		}
		runErr = err
	} else {
		// RunPlan logs unusable column files itself.
		plan, err := m.Plan(ctx)
		if err != nil {
			return err
		}
		printHeld(env.Stdout, plan)
		if len(plan.New) == 0 && len(plan.Resume) == 0 {
			for _, p := range plan.Problems {
				fmt.Fprintf(env.Stderr, "newsletter: skipped %s\n", esc(fmt.Sprint(p)))
			}
			if len(plan.Unread) > 0 {
				return unreadError(plan.Plan)
			}
			fmt.Fprintf(env.Stdout, "Nothing to send: %s.\n", plan.Why())
			return nil
		}
		results, runErr = m.RunPlan(ctx, plan, ro)
		if runErr == nil && len(plan.Unread) > 0 {
			runErr = unreadError(plan.Plan) // the resumed campaigns ran; nothing new could start
		}
	}
	rep.finish()
	for _, r := range results {
		printSummary(env.Stdout, r)
	}
	for _, line := range notStarted {
		fmt.Fprintln(env.Stdout, line)
	}
	if runErr != nil {
		if errors.Is(runErr, context.Canceled) {
			return errors.New("interrupted: what was accepted is recorded; run send again (or let serve) to send the rest")
		}
		// Only when the outage is the whole story: the line says how much waits.
		if ue, ok := runErr.(*mailer.UnreachableError); ok {
			var left []string
			for _, r := range results {
				if !r.Finished() {
					left = append(left, fmt.Sprintf("%d deliveries of column %03d", r.Counts.Pending, r.Campaign.Number))
				}
			}
			return fmt.Errorf("%w; %s wait, charged no attempt; `newsletter serve` sends them once the server is back",
				ue, strings.Join(left, ", "))
		}
		return smtpAdvice(runErr)
	}
	var left, held []string
	for _, r := range results {
		switch {
		case r.Finished():
		case r.Held != "":
			held = append(held, fmt.Sprintf("%d deliveries of column %03d wait: %s; `newsletter release %d` lets them go",
				r.Counts.Pending, r.Campaign.Number, r.Held, r.Campaign.Number))
		default:
			left = append(left, fmt.Sprintf("%d deliveries of column %03d wait for retry (next %s)",
				r.Counts.Pending, r.Campaign.Number, r.NextRetry.In(env.Cfg.Location).Format("2006-01-02 15:04 MST")))
		}
	}
	if len(left) > 0 {
		held = append(held, strings.Join(left, ", ")+"; `newsletter serve` retries them")
	}
	if len(held) > 0 {
		return errors.New(strings.Join(held, "; "))
	}
	return nil
}

// printHeld says which columns a run leaves alone because they are held.
func printHeld(w io.Writer, plan *mailer.Plan) {
	for _, c := range plan.Plan.Held {
		fmt.Fprintln(w, heldLine(c.Number, plan.HeldWhy(c.Number)))
	}
	for _, c := range plan.HeldCampaigns {
		fmt.Fprintln(w, heldCampaignLine(c.Number, plan.HeldWhy(c.Number)))
	}
}

// smtpAdvice adds to an error of the SMTP server's configuration the
// setting that changes it: mailer says what the server does, the command
// line knows its flags.
func smtpAdvice(err error) error {
	var cve *tls.CertificateVerificationError
	switch {
	case errors.Is(err, mailer.ErrLoginUnverified):
		return fmt.Errorf("%w; trust the CA that signed its certificate with --smtp-ca FILE, or send through a relay on this machine", err)
	case errors.Is(err, mailer.ErrLoginNeedsTLS):
		return fmt.Errorf("%w; use --smtp-tls starttls or tls, or leave --smtp-user empty for a server that needs no login", err)
	case errors.Is(err, mailer.ErrNoLogin):
		return fmt.Errorf("%w; leave --smtp-user empty for a server that needs no login", err)
	case errors.As(err, &cve):
		return fmt.Errorf("%w; trust the CA that signed it with --smtp-ca FILE, or use --smtp-tls opportunistic (encrypted, certificate not checked)", err)
	}
	return err
}

// sendTestCopy sends the chosen (or next) column to one address only.
func sendTestCopy(ctx context.Context, env *Env, m *mailer.Mailer, opts sendOptions) error {
	col, err := pickColumn(ctx, m, opts.Column)
	if err != nil {
		return err
	}
	if err := m.SendTest(ctx, col, opts.To); err != nil {
		return smtpAdvice(err)
	}
	fmt.Fprintf(env.Stdout, "Test copy of column %03d %q sent to %s; nothing recorded.\n", col.Number, col.Subject, esc(opts.To))
	return nil
}

// pickColumn is column number, or else the one a run would send next, or
// else the newest column.
func pickColumn(ctx context.Context, m *mailer.Mailer, number int) (*columns.Column, error) {
	if number != 0 {
		return m.FindColumn(ctx, number)
	}
	plan, err := m.Plan(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case len(plan.New) > 0:
		return plan.New[0], nil
	case len(plan.Unread) > 0:
		return nil, unreadError(plan.Plan)
	case len(plan.Columns) > 0:
		return plan.Columns[len(plan.Columns)-1], nil
	}
	return nil, fmt.Errorf("no column to send: %s", plan.Why())
}

// sendDryRun prints what a run would send to whom, and sends nothing: per
// column its number, subject and file, then every address that would get
// it, streamed from the database (memory stays flat), then the count.
func sendDryRun(ctx context.Context, env *Env, app *App, m *mailer.Mailer, opts sendOptions) error {
	w := bufio.NewWriter(env.Stdout)
	defer w.Flush()
	list := func(email string) error {
		_, err := fmt.Fprintf(w, "  %s\n", esc(email))
		return err
	}
	describePending := func(c *mailer.Campaign) error {
		counts, err := m.Campaigns().Counts(ctx, c.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Would resume column %03d %q (%s, as it was when the campaign started): %d of %d deliveries pending (%d waiting for retry), %d sent; still to get it:\n",
			c.Number, c.Subject, esc(c.File), counts.Pending, counts.Total(), counts.Waiting, counts.Sent)
		n, err := m.Campaigns().PendingRecipients(ctx, c.ID, list)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Column %03d would go to %s.\n", c.Number, countOf(n, "more active subscriber", "more active subscribers"))
		return nil
	}
	describeNew := func(col *columns.Column) error {
		fmt.Fprintf(w, "Would send column %03d %q (%s) to:\n", col.Number, col.Subject, esc(col.File))
		n, err := m.Campaigns().Recipients(ctx, list)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Column %03d would go to %s.\n", col.Number, countOf(n, "active subscriber", "active subscribers"))
		if n == 0 {
			fmt.Fprintf(w, "It would not be sent: %v; it stays new.\n", mailer.ErrNoRecipients)
		}
		return nil
	}
	if opts.Column != 0 {
		c, err := m.Campaigns().Find(ctx, opts.Column)
		switch {
		case err == nil && c.Finished():
			return fmt.Errorf("column %03d: %w (%s)", opts.Column, mailer.ErrAlreadySent, countOf(c.Recipients, "recipient", "recipients"))
		case err == nil:
			return describePending(c)
		case !errors.Is(err, mailer.ErrNoCampaign):
			return err
		}
		col, err := m.FindColumn(ctx, opts.Column)
		if err != nil {
			return err
		}
		return describeNew(col)
	}
	plan, err := m.Plan(ctx)
	if err != nil {
		return err
	}
	for _, p := range plan.Problems {
		fmt.Fprintf(env.Stderr, "newsletter: skipped %s\n", esc(fmt.Sprint(p)))
	}
	printHeld(w, plan)
	for _, c := range plan.Resume {
		if err := describePending(c); err != nil {
			return err
		}
	}
	for _, col := range plan.New {
		if err := describeNew(col); err != nil {
			return err
		}
	}
	if len(plan.Unread) > 0 {
		if err := w.Flush(); err != nil {
			return err
		}
		return unreadError(plan.Plan)
	}
	if len(plan.New) == 0 && len(plan.Resume) == 0 {
		fmt.Fprintf(w, "Nothing to send: %s.\n", plan.Why())
	}
	return w.Flush()
}

// unreadError is the one line for a feed that could not be read: nothing
// new was started, and the next run (or send) tries again.
func unreadError(p *columns.Plan) error {
	return fmt.Errorf("%w; nothing new was sent: a run starts nothing new until the feed can be read, and the next one tries again", p.Unread[0])
}

// countOf is "1 thing" or "n things".
func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// progressReporter shows a progress bar on a terminal and a log line every
// few seconds otherwise.
type progressReporter struct {
	env     *Env
	mu      sync.Mutex
	bar     *progressbar.ProgressBar
	lastLog time.Time
	column  int
}

func newProgressReporter(env *Env) *progressReporter { return &progressReporter{env: env} }

func (p *progressReporter) started(c *mailer.Campaign, from mailer.Counts) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked()
	p.column = c.Number
	done := from.Sent + from.Failed + from.Skipped
	if p.env.IsTerminal {
		p.bar = progressbar.NewOptions(from.Total(),
			progressbar.OptionSetWriter(p.env.Stderr),
			progressbar.OptionSetDescription(fmt.Sprintf("column %03d", c.Number)),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("mails"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		_ = p.bar.Set(done)
		return
	}
	p.env.Log.Info("sending", "column", c.Number, "done", done, "total", from.Total())
	p.lastLog = time.Now()
}

func (p *progressReporter) progress(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Set(done)
		return
	}
	if time.Since(p.lastLog) >= 5*time.Second {
		p.env.Log.Info("sending", "column", p.column, "done", done, "total", total)
		p.lastLog = time.Now()
	}
}

func (p *progressReporter) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked()
}

func (p *progressReporter) finishLocked() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

// printSummary is the closing report of one campaign run.
func printSummary(w io.Writer, r *mailer.RunResult) {
	c := r.Counts
	fmt.Fprintf(w, "Column %03d %q: %d recipients\n", r.Campaign.Number, r.Campaign.Subject, c.Total())
	fmt.Fprintf(w, "  sent                %d\n", c.Sent)
	fmt.Fprintf(w, "  failed              %d\n", c.Failed)
	for _, f := range r.Failures {
		fmt.Fprintf(w, "    %6d  %s\n", f.Count, esc(f.Reply))
	}
	fmt.Fprintf(w, "  skipped             %d\n", c.Skipped)
	fmt.Fprintf(w, "  pending             %d (%d waiting for retry)\n", c.Pending, c.Waiting)
	rate := 0.0
	if s := r.Duration.Seconds(); s > 0 {
		rate = float64(r.Sent) / s
	}
	fmt.Fprintf(w, "  this run            %d accepted of %d tried in %s (%.1f msgs/s)\n", r.Sent, r.Attempted, r.Duration.Round(time.Millisecond), rate)
}
