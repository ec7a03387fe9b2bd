package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"newsletter/columns"
	"newsletter/mailer"
)

// columnsCommand is `newsletter columns`: every column found with its
// state and delivery counts, and a line on what the next run would send and
// why. Files that cannot be parsed are listed on stderr; they are not fatal.
func columnsCommand(ctx context.Context, env *Env) error {
	cfg := env.Cfg
	app, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	cols, problems, err := columns.Discover(cfg.Columns, cfg.Location)
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintf(env.Stderr, "newsletter: skipped %v\n", p)
	}
	camps, err := app.Campaigns.List(ctx, mailer.CampaignFilter{})
	if err != nil {
		return err
	}
	byNumber := map[int]*mailer.Campaign{}
	sent, sending := map[int]bool{}, map[int]bool{}
	for _, c := range camps {
		byNumber[c.Number] = c
		sent[c.Number] = true
		if !c.Finished() {
			sending[c.Number] = true
		}
	}
	now := app.DB.Now()
	states := columns.States(cols, sent, sending, now)

	// One row per column number: files found, and campaigns whose file is gone.
	type row struct {
		number int
		line   string
	}
	var rows []row
	seen := map[int]bool{}
	for _, col := range cols {
		seen[col.Number] = true
		state, err := stateText(ctx, app, states[col.Number], byNumber[col.Number])
		if err != nil {
			return err
		}
		rows = append(rows, row{col.Number, fmt.Sprintf("%03d\t%s\t%s\t%s\t%s\n", col.Number, col.Title, dateText(col.Date, cfg.Location),
			filepath.Base(col.File), state)})
	}
	for _, c := range camps {
		if seen[c.Number] {
			continue
		}
		st := columns.StateSent
		if !c.Finished() {
			st = columns.StateSending
		}
		state, err := stateText(ctx, app, st, c)
		if err != nil {
			return err
		}
		rows = append(rows, row{c.Number, fmt.Sprintf("%03d\t%s\t%s\t%s\t%s\n", c.Number, titleOf(c.Subject, c.Number), "-",
			filepath.Base(c.File)+" (file gone)", state)})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].number < rows[j].number })
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NUMBER\tTITLE\tDATE\tFILE\tSTATE")
	for _, r := range rows {
		fmt.Fprint(tw, r.line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(env.Stdout)
	next := columns.NewColumns(cols, sent, now)
	switch {
	case len(next) > 0:
		n := next[0]
		fmt.Fprintf(env.Stdout, "Next: column %03d %q goes out on the next run (%s).\n", n.Number, n.Subject, whyNew(n, sent))
		if len(next) > 1 {
			fmt.Fprintf(env.Stdout, "Then %d more new column(s), oldest first.\n", len(next)-1)
		}
	case len(cols) == 0 && len(problems) > 0:
		fmt.Fprintf(env.Stdout, "Next: nothing; no readable column in %s (%d file(s) skipped, see above).\n", cfg.Columns, len(problems))
	case len(cols) == 0:
		fmt.Fprintf(env.Stdout, "Next: nothing; no column files (*.txt, *.md) in %s.\n", cfg.Columns)
	default:
		newest := cols[len(cols)-1]
		switch states[newest.Number] {
		case columns.StateSent, columns.StateSending:
			fmt.Fprintf(env.Stdout, "Next: nothing new; the newest column, %03d, already has its campaign. Add a column numbered above %03d to send more.\n",
				newest.Number, newest.Number)
		default:
			fmt.Fprintf(env.Stdout, "Next: nothing new; newest column %03d is %s.\n", newest.Number,
				columns.Explain(newest, cols, sent, sending, now))
		}
	}
	for _, c := range camps {
		if !c.Finished() {
			fmt.Fprintf(env.Stdout, "Column %03d is still sending; `newsletter send` or `serve` finishes it.\n", c.Number)
		}
	}
	return nil
}

// stateText is the state column: the state, and for a campaign its counts.
func stateText(ctx context.Context, app *App, st columns.State, c *mailer.Campaign) (string, error) {
	if c == nil {
		return string(st), nil
	}
	n, err := app.Campaigns.Counts(ctx, c.ID)
	if err != nil {
		return "", err
	}
	label := string(st)
	if st == columns.StateSent && n.Sent == 0 {
		label = "finished" // nobody got it: "sent" would mislead
	}
	s := fmt.Sprintf("%s (%d sent, %d failed", label, n.Sent, n.Failed)
	if n.Pending > 0 {
		s += fmt.Sprintf(", %d pending", n.Pending)
	}
	if n.Skipped > 0 {
		s += fmt.Sprintf(", %d skipped", n.Skipped)
	}
	return s + ")", nil
}

func whyNew(c *columns.Column, sent map[int]bool) string {
	maxSent := 0
	for n := range sent {
		maxSent = max(maxSent, n)
	}
	due := "no publish date"
	if !c.Date.IsZero() {
		due = "due since " + c.Date.Format("2006-01-02")
	}
	if len(sent) == 0 {
		return due + "; first run: only the newest due column is sent"
	}
	return fmt.Sprintf("%s, numbered above %03d, the last one sent", due, maxSent)
}

func dateText(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(loc).Format("2006-01-02")
}

// titleOf strips a "SERIES NNN: " prefix from a stored subject.
func titleOf(subject string, number int) string {
	if before, after, ok := strings.Cut(subject, ": "); ok && strings.HasSuffix(before, fmt.Sprintf("%03d", number)) {
		return after
	}
	return subject
}
