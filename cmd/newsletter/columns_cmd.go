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
	app, err := openExistingApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	camps, err := app.Campaigns.List(ctx, mailer.CampaignFilter{})
	if err != nil {
		return err
	}
	mp, err := mailer.PlanColumns(ctx, cfg.Columns, cfg.Location, feedSources(cfg), camps, mailer.NewHolds(app.DB, app.Key, cfg.Location), app.DB.Now())
	if err != nil {
		return err
	}
	plan := mp.Plan // the rule's view: states and reasons per column
	for _, p := range plan.Problems {
		fmt.Fprintf(env.Stderr, "newsletter: skipped %s\n", esc(fmt.Sprint(p)))
	}
	for _, u := range plan.Unread {
		fmt.Fprintf(env.Stderr, "newsletter: %s; its items are not listed\n", esc(fmt.Sprint(u)))
	}
	byNumber := map[int]*mailer.Campaign{}
	for _, c := range camps {
		byNumber[c.Number] = c
	}

	// One row per column number: files found, and campaigns whose file is gone.
	type row struct {
		number int
		line   string
	}
	var rows []row
	seen := map[int]bool{}
	for _, col := range plan.Columns {
		seen[col.Number] = true
		state, err := stateText(ctx, app, plan, col.Number, byNumber[col.Number])
		if err != nil {
			return err
		}
		rows = append(rows, row{col.Number, fmt.Sprintf("%03d\t%s\t%s\t%s\t%s\n", col.Number, esc(col.Title), dateText(col.Date, cfg.Location),
			originText(col), state)})
	}
	for _, c := range camps {
		if seen[c.Number] {
			continue
		}
		state, err := stateText(ctx, app, plan, c.Number, c)
		if err != nil {
			return err
		}
		gone := esc(filepath.Base(c.File)) + " (file gone)"
		switch {
		case columns.IsFeedFileName(c.File) && len(plan.Unread) > 0:
			gone = "feed item (feed not read)"
		case columns.IsFeedFileName(c.File):
			gone = "feed item (gone from the feed)"
		}
		rows = append(rows, row{c.Number, fmt.Sprintf("%03d\t%s\t%s\t%s\t%s\n", c.Number, esc(titleOf(c.Subject, c.Number)), "-",
			gone, state)})
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
	switch {
	case len(plan.New) > 0:
		n := plan.New[0]
		fmt.Fprintf(env.Stdout, "Next: column %03d %q goes out on the next run (%s).\n", n.Number, n.Subject, plan.WhyNew(n))
		if len(plan.New) > 1 {
			fmt.Fprintf(env.Stdout, "Then %d more new column(s), oldest first.\n", len(plan.New)-1)
		}
	case len(plan.Columns) == 0 && len(plan.Unread) == 0:
		fmt.Fprintf(env.Stdout, "Next: nothing; %s.\n", plan.Why())
	default:
		fmt.Fprintf(env.Stdout, "Next: nothing new; %s.\n", plan.Why())
	}
	for _, c := range plan.Held {
		why, _ := plan.HeldWhy(c.Number)
		fmt.Fprintln(env.Stdout, heldLine(c.Number, why))
	}
	for _, c := range camps {
		why, held := plan.HeldWhy(c.Number)
		switch {
		case c.Finished():
		case held:
			fmt.Fprintln(env.Stdout, heldCampaignLine(c.Number, why))
		default:
			fmt.Fprintf(env.Stdout, "Column %03d is still sending; `newsletter send` or `serve` finishes it.\n", c.Number)
		}
	}
	return nil
}

// stateText is the state column: the state, by whom and since when a
// held column is held, and for a campaign its counts.
func stateText(ctx context.Context, app *App, plan *columns.Plan, number int, c *mailer.Campaign) (string, error) {
	st := plan.State(number)
	label := string(st)
	var notes []string
	if why, held := plan.HeldWhy(number); held && st == columns.StateHeld {
		notes = append(notes, strings.TrimPrefix(why, "held ")) // "by admin at …"
	}
	if c != nil {
		n, err := app.Campaigns.Counts(ctx, c.ID)
		if err != nil {
			return "", err
		}
		if st == columns.StateSent && n.Sent == 0 {
			label = "finished" // nobody got it: "sent" would mislead
		}
		counts := fmt.Sprintf("%d sent, %d failed", n.Sent, n.Failed)
		if n.Pending > 0 {
			counts += fmt.Sprintf(", %d pending", n.Pending)
		}
		if n.Skipped > 0 {
			counts += fmt.Sprintf(", %d skipped", n.Skipped)
		}
		notes = append(notes, counts)
	}
	if len(notes) == 0 {
		return label, nil
	}
	return label + " (" + strings.Join(notes, "; ") + ")", nil
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
