package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"newsletter/mailer"
	"newsletter/subscribers"
)

// exTempFail is sysexits.h's EX_TEMPFAIL: an MTA that pipes a message to
// `bounces ingest` keeps it and tries again later.
const exTempFail = 75

// exitError ends the program with its own exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

const bouncesHelp = `
Subcommands:
  ingest [--dry-run] [FILE|DIR|-]   take in bounce and complaint mail: one message from standard
                                    input (an MTA's pipe; also without an argument), one message
                                    in FILE, every message of an mbox FILE, or a Maildir folder DIR
                                    (new/ and cur/, read only). One line per event: KIND STATUS
                                    ADDRESS, how the subscriber was identified (verp, message-id,
                                    final-recipient, unknown, forged) and what it did; "none REASON"
                                    for mail that is no bounce (it is kept for review).
                                    Exit 0 when taken in or kept, 75 on a passing failure (the MTA
                                    retries), 1 otherwise. --dry-run changes nothing.
  list [--limit N] [--review]       recent events, newest first: time, address, kind, status,
                                    column, diagnostic; --review: the mail kept for review
`

// bouncesCmd is `newsletter bounces ingest|list`.
func bouncesCmd() command {
	return command{
		name: "bounces", summary: "take in bounce and complaint mail, list what it did",
		usage:  "ingest [--dry-run] [FILE|DIR|-] | list [--limit N] [--review]",
		groups: groupShared | groupBounce,
		flags: func(fs *flag.FlagSet) func(context.Context, *Env, []string) error {
			dryRun := fs.Bool("dry-run", false, "ingest: say what the mail states and how it would be identified; change nothing")
			limit := fs.Int("limit", 50, "list: how many events (or kept messages) to show")
			review := fs.Bool("review", false, "list: the mail kept for review instead of the events")
			return func(ctx context.Context, env *Env, args []string) error {
				if len(args) == 0 {
					return usagef("bounces: missing subcommand (ingest, list)")
				}
				sub, rest := args[0], args[1:]
				own := map[string][]string{"ingest": {"dry-run"}, "list": {"limit", "review"}}
				if _, ok := own[sub]; !ok {
					return usagef("bounces: unknown subcommand %q", sub)
				}
				if err := subcommandFlags(fs, "bounces", sub, own); err != nil {
					return err
				}
				switch sub {
				case "ingest":
					if len(rest) > 1 {
						return usagef("bounces ingest: give at most one FILE, DIR or - (standard input)")
					}
					arg := ""
					if len(rest) == 1 {
						arg = rest[0]
					}
					return ingestCommand(ctx, env, arg, *dryRun)
				default:
					if len(rest) > 0 {
						return usagef("bounces list: unexpected argument %q", rest[0])
					}
					if *limit < 1 {
						return usagef("--limit: must be at least 1, got %d", *limit)
					}
					return listBounces(ctx, env, *limit, *review)
				}
			}
		},
	}
}

// ingestCommand is `bounces ingest`. A database that cannot be opened is a
// passing failure (exit 75): the MTA keeps the mail until it can be taken
// in, so nothing is lost to a locked, moved or half-upgraded database.
func ingestCommand(ctx context.Context, env *Env, arg string, dryRun bool) error {
	input, closeInput, err := openIngestInput(arg, env.Stdin)
	if err != nil {
		return err
	}
	defer closeInput()
	app, err := openExistingApp(ctx, env)
	if err != nil {
		return &exitError{code: exTempFail, err: err}
	}
	defer app.Close()
	intake, err := mailer.NewIntake(app.DB, app.Store, mailer.IntakeOptions{
		BounceAddress: env.Cfg.BounceAddress, SoftBounceLimit: env.Cfg.SoftBounceLimit, Secret: app.Key, Logger: env.Log,
	})
	if err != nil {
		return err
	}
	var temp, failed error
	n := 0
	walkErr := input.each(func(name string, raw []byte) error {
		n++
		prefix := ""
		if name != "" {
			prefix = esc(name) + ": "
		}
		res, err := intake.Ingest(ctx, input.source, raw, dryRun)
		if err != nil {
			// Say which message, go on with the others: each is taken in
			// once, so running the whole input again later is safe.
			fmt.Fprintf(env.Stderr, "newsletter: %snot taken in: %s\n", prefix, userMessage(err))
			if errors.Is(err, mailer.ErrTemporary) {
				temp = err
			} else {
				failed = err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return nil
		}
		for _, l := range res.Lines {
			fmt.Fprintf(env.Stdout, "%s%s\n", prefix, esc(l))
		}
		return nil
	})
	switch {
	case walkErr != nil && ctx.Err() != nil:
		return &exitError{code: exTempFail, err: walkErr}
	case walkErr != nil:
		return walkErr
	case temp != nil:
		return &exitError{code: exTempFail, err: fmt.Errorf("some mail could not be taken in now; run again later (what was taken in is not taken twice)")}
	case failed != nil:
		return errors.New("some mail could not be taken in")
	}
	if n == 0 && input.source == "maildir" {
		fmt.Fprintln(env.Stdout, "No mail in the folder.")
	}
	return nil
}

// listBounces is `bounces list`: the newest events, or with review the
// mail kept for review. Diagnostics, addresses and subjects came from
// outside and are printed with control characters escaped.
func listBounces(ctx context.Context, env *Env, limit int, review bool) error {
	app, err := openExistingApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	if review {
		intake, err := mailer.NewIntake(app.DB, app.Store, mailer.IntakeOptions{Secret: app.Key})
		if err != nil {
			return err
		}
		items, err := intake.Review(ctx, limit)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			fmt.Fprintln(env.Stdout, "No mail kept for review.")
			return nil
		}
		fmt.Fprintln(tw, "ID\tTIME\tSOURCE\tREASON\tSIZE\tFROM\tSUBJECT")
		for _, it := range items {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", it.ID, stamp(it.At), esc(it.Source), esc(it.Reason), it.Size,
				orNone(subscribers.ClipText(it.From, 60)), orNone(subscribers.ClipText(it.Subject, 80)))
		}
		return tw.Flush()
	}
	events, err := app.Store.BounceEvents(ctx, subscribers.BounceFilter{Limit: limit})
	if err != nil {
		return err
	}
	if len(events) == 0 {
		fmt.Fprintln(env.Stdout, "No bounce or complaint events.")
		return nil
	}
	fmt.Fprintln(tw, "TIME\tADDRESS\tKIND\tSTATUS\tCOLUMN\tDIAGNOSTIC")
	for _, ev := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", stamp(ev.At), esc(ev.Address), ev.Kind, orNone(ev.Status),
			columnText(ev), orNone(subscribers.ClipText(ev.Diagnostic, 100)))
	}
	return tw.Flush()
}

// columnText names the mail an event is about: the column number, the
// outbox mail's kind, or "-".
func columnText(ev subscribers.BounceEvent) string {
	switch {
	case ev.Column != 0:
		return fmt.Sprintf("%03d", ev.Column)
	case ev.Mail != "":
		return ev.Mail
	}
	return "-"
}

// printBounces is the bounce part of `subscribers show` in text.
func printBounces(w io.Writer, events []subscribers.BounceEvent) {
	fmt.Fprintf(w, "\nBounces and complaints (%d event(s), newest first):\n", len(events))
	for _, ev := range events {
		about := "mail unknown"
		switch {
		case ev.Column != 0:
			about = fmt.Sprintf("column %03d", ev.Column)
		case ev.Mail != "":
			about = esc(ev.Mail) + " mail"
		}
		fmt.Fprintf(w, "  %s  %s %s, %s, via %s, identified by %s: %s\n", stamp(ev.At), ev.Kind, orNone(ev.Status),
			about, esc(ev.Source), ev.IdentifiedBy, ev.Effect)
		if ev.Diagnostic != "" {
			fmt.Fprintf(w, "      Diagnostic:   %s\n", esc(ev.Diagnostic))
		}
	}
}

// bounceOut is a bounce event in `subscribers show --format json`.
type bounceOut struct {
	At           string `json:"at"`
	Kind         string `json:"kind"`
	Status       string `json:"status,omitempty"`
	Diagnostic   string `json:"diagnostic,omitempty"`
	Column       int    `json:"column,omitempty"`
	Mail         string `json:"mail,omitempty"`
	Source       string `json:"source"`
	IdentifiedBy string `json:"identified_by"`
	Effect       string `json:"effect"`
}

func bouncesJSON(events []subscribers.BounceEvent) []bounceOut {
	out := []bounceOut{}
	for _, ev := range events {
		out = append(out, bounceOut{At: stamp(ev.At), Kind: string(ev.Kind), Status: ev.Status, Diagnostic: ev.Diagnostic,
			Column: ev.Column, Mail: ev.Mail, Source: ev.Source, IdentifiedBy: ev.IdentifiedBy, Effect: ev.Effect})
	}
	return out
}
