package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"newsletter/columns"
	"newsletter/mailer"
	"newsletter/templates"
)

// The author's safety net on the command line: `newsletter hold N`,
// `newsletter release N` and `newsletter proof [N]`.

func holdCmd() command {
	return numberCmd("hold", "hold column N: no run sends it (a campaign under way stops) until it is released",
		groupShared|groupFeed, holdCommand)
}

func releaseCmd() command {
	return numberCmd("release", "release held column N: the next run sends it (or resumes its campaign)",
		groupShared|groupSchedule|groupFeed, releaseCommand)
}

// numberCmd is a command that takes one column number.
func numberCmd(name, summary string, groups group, action func(context.Context, *Env, int) error) command {
	return command{
		name: name, summary: summary, usage: "N", groups: groups,
		flags: func(fs *flag.FlagSet) func(context.Context, *Env, []string) error {
			return func(ctx context.Context, env *Env, args []string) error {
				n, err := columnArg(name, args, false)
				if err != nil {
					return err
				}
				return action(ctx, env, n)
			}
		},
	}
}

func proofCmd() command {
	return command{
		name: "proof", summary: "send the proof copy of column N (default: the next to go out) to --proof-to now",
		usage:  "[N]",
		groups: groupShared | groupLinks | groupSMTP | groupSchedule | groupDelivery | groupContent | groupFeed | groupProof | groupBounce,
		flags: func(fs *flag.FlagSet) func(context.Context, *Env, []string) error {
			return func(ctx context.Context, env *Env, args []string) error {
				n, err := columnArg("proof", args, true)
				if err != nil {
					return err
				}
				if len(env.Cfg.ProofTo) == 0 {
					return usagef("--proof-to: no address; give the author's addresses, comma-separated")
				}
				if err := columnsFolder(env); err != nil {
					return err
				}
				return proofCommand(ctx, env, n)
			}
		},
	}
}

// columnArg reads the one column number a command takes; 0 when it is
// optional and not given.
func columnArg(cmd string, args []string, optional bool) (int, error) {
	switch {
	case len(args) == 0 && optional:
		return 0, nil
	case len(args) != 1:
		return 0, usagef("%s: give one column number, like 'newsletter %s 31'", cmd, cmd)
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n <= 0 {
		return 0, usagef("%s: %q is not a column number", cmd, args[0])
	}
	return n, nil
}

// holdCommand holds column number: a column in the folder or the feed, or
// one whose campaign is under way.
func holdCommand(ctx context.Context, env *Env, number int) error {
	cfg := env.Cfg
	app, err := openExistingApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	camp, err := app.Campaigns.Find(ctx, number)
	switch {
	case err == nil:
	case errors.Is(err, mailer.ErrNoCampaign):
		camp = nil
		if err := columnsFolder(env); err != nil {
			return err
		}
		plan, err := mailer.PlanColumns(ctx, cfg.Columns, cfg.Location, feedSources(cfg), nil, nil, app.DB.Now())
		if err != nil {
			return err
		}
		if columns.Find(plan.Columns, number) == nil {
			where := cfg.Columns
			if cfg.Feed != "" {
				where += " or " + cfg.Feed
			}
			if len(plan.Unread) > 0 {
				return fmt.Errorf("column %03d: %w in %s (%v)", number, mailer.ErrNoColumn, where, plan.Unread[0])
			}
			return fmt.Errorf("column %03d: %w in %s", number, mailer.ErrNoColumn, where)
		}
	default:
		return err
	}
	holds := mailer.NewHolds(app.DB, app.Key, cfg.Location)
	h, added, err := holds.Hold(ctx, number, mailer.HeldByAdmin)
	if err != nil {
		return err
	}
	words := h.Words(cfg.Location)
	if !added {
		fmt.Fprintf(env.Stdout, "Column %03d is already held %s; `newsletter release %d` lets it go.\n", number, words, number)
		return nil
	}
	fmt.Fprintf(env.Stdout, "Column %03d is held %s: no run sends it until `newsletter release %d`.\n", number, words, number)
	if camp != nil {
		counts, err := app.Campaigns.Counts(ctx, camp.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Its campaign is under way: a running serve or send stops within a lease renewal (--lease/3) and gives its claims back; %d of %d deliveries wait.\n",
			counts.Pending, counts.Total())
	}
	return nil
}

// releaseCommand lets column number go again.
func releaseCommand(ctx context.Context, env *Env, number int) error {
	cfg := env.Cfg
	app, err := openExistingApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	h, held, err := mailer.NewHolds(app.DB, app.Key, cfg.Location).Release(ctx, number)
	if err != nil {
		return err
	}
	if !held {
		fmt.Fprintf(env.Stdout, "Column %03d is not held; nothing to release.\n", number)
		return nil
	}
	fmt.Fprintf(env.Stdout, "Column %03d is released (it was held %s).\n", number, h.Words(cfg.Location))
	camp, err := app.Campaigns.Find(ctx, number)
	if err == nil && !camp.Finished() {
		counts, err := app.Campaigns.Counts(ctx, camp.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Its campaign goes on: a running serve resumes it within seconds, or `newsletter send` now; %d deliveries wait.\n", counts.Pending)
		return nil
	}
	sched, err := mailer.NewRunSchedule(cfg.Schedule, cfg.Location)
	if err != nil {
		return usagef("--schedule: %v", err)
	}
	next := "the next scheduled run"
	if t := sched.Next(app.DB.Now()); !t.IsZero() {
		next += " (" + t.In(cfg.Location).Format("2006-01-02 15:04 MST") + ")"
	}
	fmt.Fprintf(env.Stdout, "%s sends it if it is new then; `newsletter columns` shows where it stands.\n", capitalize(next))
	return nil
}

// newProofs builds the proofs of m from the configuration.
func newProofs(cfg *Config, m *mailer.Mailer) (*mailer.Proofs, error) {
	banner, err := templates.LoadProofBanner(templates.ProofOptions{Lang: cfg.Lang, OverrideDir: cfg.Templates})
	if err != nil {
		return nil, err
	}
	sched, err := mailer.NewRunSchedule(cfg.Schedule, cfg.Location)
	if err != nil {
		return nil, usagef("--schedule: %v", err)
	}
	return m.NewProofs(mailer.ProofOptions{To: cfg.ProofTo, Before: cfg.ProofBefore, Schedule: sched, Banner: banner})
}

// proofCommand sends the proof of column number (0: the next to go out)
// now, whether or not one went out before, and says to whom.
func proofCommand(ctx context.Context, env *Env, number int) error {
	cfg := env.Cfg
	app, err := openExistingApp(ctx, env)
	if err != nil {
		return err
	}
	defer app.Close()
	renderer, err := newMailRenderer(cfg)
	if err != nil {
		return err
	}
	m, err := newMailer(env, app, renderer)
	if err != nil {
		return err
	}
	proofs, err := newProofs(cfg, m)
	if err != nil {
		return err
	}
	t, err := proofs.Target(ctx, number)
	if err != nil {
		return err
	}
	q, recs, sendErr := proofs.SendNow(ctx, t)
	if q.OutboxIDs == nil && sendErr != nil {
		return sendErr
	}
	planned := "planned for " + t.Planned.In(cfg.Location).Format("Mon 2006-01-02 15:04 MST")
	if t.Planned.IsZero() {
		planned = "no run will send it as things stand: " + t.NotPlanned
	}
	col := t.Column
	if sendErr != nil {
		return fmt.Errorf("proof of column %03d queued for %s but not sent: %w; `newsletter serve` sends it once the server is back",
			col.Number, strings.Join(q.To, ", "), sendErr)
	}
	var sent, failed []string
	for i, id := range q.OutboxIDs {
		switch r := recs[id]; r.State {
		case "sent":
			sent = append(sent, q.To[i])
		case "pending":
			failed = append(failed, fmt.Sprintf("%s: waits for a retry (%s)", q.To[i], cmp.Or(r.LastReply, "another sender has it")))
		default:
			failed = append(failed, fmt.Sprintf("%s: not accepted (%s)", q.To[i], r.LastReply))
		}
	}
	if len(sent) > 0 {
		fmt.Fprintf(env.Stdout, "Proof of column %03d %q (%s) sent to %s.\n", col.Number, col.Subject, esc(planned), esc(strings.Join(sent, ", ")))
	}
	if len(failed) > 0 {
		return fmt.Errorf("proof of column %03d: %s", col.Number, strings.Join(failed, "; "))
	}
	return nil
}

// heldLine is what send and columns print about a held column; why is
// "held by admin at TIME".
func heldLine(number int, why string) string {
	return fmt.Sprintf("Column %03d is %s; `newsletter release %d` lets it go.", number, esc(why), number)
}

// heldCampaignLine is heldLine for a column whose campaign is under way.
func heldCampaignLine(number int, why string) string {
	return fmt.Sprintf("Column %03d is %s; its campaign waits until `newsletter release %d`.", number, esc(why), number)
}
