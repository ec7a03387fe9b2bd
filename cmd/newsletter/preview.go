package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"newsletter/columns"
	"newsletter/mailer"
	"newsletter/templates"
)

// previewCommand is `newsletter preview [N] [--text|--html] [--out FILE]`.
func previewCommand(ctx context.Context, env *Env, args []string, text, html bool, out string) error {
	number := 0
	switch len(args) {
	case 0:
	case 1:
		n, err := strconv.Atoi(args[0])
		if err != nil || n <= 0 {
			return usagef("preview: %q is not a column number", args[0])
		}
		number = n
	default:
		return usagef("preview: at most one column number")
	}
	mode := ""
	switch {
	case text && html:
		return usagef("preview: --text and --html exclude each other; give neither for both parts")
	case text:
		mode = "text"
	case html:
		mode = "html"
	}
	// Render into a buffer first, so a failure never leaves half a file.
	var buf bytes.Buffer
	if err := previewColumn(ctx, &buf, env.Cfg, number, mode); err != nil {
		return err
	}
	if out == "" {
		_, err := buf.WriteTo(env.Stdout)
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("preview: %w", err)
	}
	fmt.Fprintf(env.Stdout, "Wrote %s\n", esc(out))
	return nil
}

// previewColumn renders column number (0 = the newest) from the columns
// folder or the feed of cfg exactly as a subscriber would get it, for a
// placeholder reader, and writes it to w: mode "text" or "html" writes that
// part alone, "" writes the subject, then the text part, then the HTML part.
func previewColumn(ctx context.Context, w io.Writer, cfg *Config, number int, mode string) error {
	switch mode {
	case "", "text", "html":
	default:
		return fmt.Errorf("preview: unknown mode %q (want text, html or both)", mode)
	}
	// The plan of `send` and `serve`, without campaigns: a preview shows
	// any column whatever its state, and needs no database.
	columnsDir, sources := cfg.Columns, feedSources(cfg)
	plan, err := mailer.PlanColumns(ctx, columnsDir, cfg.Location, sources, nil, nil, time.Now())
	if err != nil {
		return err
	}
	problems, unread := plan.Problems, plan.Unread
	c := columns.Find(plan.Columns, number)
	if number == 0 && len(unread) > 0 {
		c = nil // the newest may be in the feed
	}
	if c == nil {
		where := columnsDir
		for _, s := range sources {
			where += " or " + s.Name()
		}
		msg := fmt.Sprintf("no column %03d in %s", number, where)
		if number == 0 {
			msg = "no column in " + where
		}
		// The wanted column may be the one that failed to parse, or in
		// the feed that could not be read: say why.
		errs := []error{errors.New(msg)}
		for _, u := range unread {
			errs = append(errs, u)
		}
		return errors.Join(append(errs, problems...)...)
	}
	r, err := newMailRenderer(cfg)
	if err != nil {
		return err
	}
	p, err := r.Prepare(c)
	if err != nil {
		return err
	}
	reader := templates.PreviewRecipient(cfg.BaseURL)
	m := p.Personalize(reader)
	switch mode {
	case "text":
		_, err = io.WriteString(w, m.Text)
	case "html":
		_, err = io.WriteString(w, m.HTML)
	default:
		date := "none (due at once)"
		if !c.Date.IsZero() {
			date = c.Date.Format("2006-01-02 15:04 MST")
		}
		_, err = fmt.Fprintf(w, "File:    %s\nNumber:  %s\nDate:    %s\nTo:      %s\nSubject: %s\nPreheader: %s\n\n----- text/plain -----\n%s\n----- text/html -----\n%s",
			esc(c.Where()), c.NumberString(), date, esc(reader.Email), esc(m.Subject), esc(c.Preheader), m.Text, m.HTML)
	}
	return err
}
