package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"newsletter/internal/loopback"
	"newsletter/subscribers"
)

// command is one subcommand: its settings groups, own flags and action.
type command struct {
	name    string
	summary string
	usage   string // after "newsletter NAME"
	groups  group
	// flags registers the command's own flags and returns the action.
	flags func(fs *flag.FlagSet) func(ctx context.Context, env *Env, args []string) error
}

func commands() []command {
	return []command{
		{
			name: "serve", summary: "web forms, archive, one-click unsubscribe, confirmation outbox and the weekly scheduler",
			groups: groupShared | groupLinks | groupSMTP | groupSchedule | groupDelivery | groupWeb | groupContent | groupFeed | groupProof | groupBounce | groupMailbox,
			flags: func(fs *flag.FlagSet) func(context.Context, *Env, []string) error {
				return func(ctx context.Context, env *Env, args []string) error {
					if err := noArgs(args); err != nil {
						return err
					}
					return serveCommand(ctx, env)
				}
			},
		},
		{
			name: "send", summary: "send the new column now (the scheduler's job, at once)", usage: "[--column N] [--to EMAIL] [--dry-run]",
			groups: groupShared | groupLinks | groupSMTP | groupDelivery | groupWait | groupContent | groupFeed | groupBounce,
			flags: func(fs *flag.FlagSet) func(context.Context, *Env, []string) error {
				var o sendOptions
				fs.IntVar(&o.Column, "column", 0, "send this column number instead of the new one")
				fs.StringVar(&o.To, "to", "", "send a test copy to this one address only (records nothing)")
				fs.BoolVar(&o.DryRun, "dry-run", false, "show who would get what, send nothing")
				return func(ctx context.Context, env *Env, args []string) error {
					if err := noArgs(args); err != nil {
						return err
					}
					// An empty --to (an unset variable in a script) must never
					// fall through to the real campaign; nor --column 0.
					var bad error
					fs.Visit(func(f *flag.Flag) {
						switch {
						case f.Name == "to" && strings.TrimSpace(o.To) == "":
							bad = usagef("--to: empty address; give the one address for the test copy")
						case f.Name == "column" && o.Column <= 0:
							bad = usagef("--column: %d is not a column number", o.Column)
						}
					})
					if bad != nil {
						return bad
					}
					if o.To != "" && o.DryRun {
						return usagef("--to and --dry-run exclude each other: --to sends one real test copy")
					}
					if o.To != "" {
						if _, _, err := subscribers.NormalizeEmail(o.To); err != nil {
							var ie *subscribers.InvalidError
							if errors.As(err, &ie) {
								return usagef("--to: %q is not a valid address: it %s", o.To, ie.Msg)
							}
							return err
						}
					}
					if err := columnsFolder(env); err != nil {
						return err
					}
					return sendCommand(ctx, env, o)
				}
			},
		},
		{
			name: "columns", summary: "list every column with number, title, date and state",
			groups: groupShared | groupFeed,
			flags: func(fs *flag.FlagSet) func(context.Context, *Env, []string) error {
				return func(ctx context.Context, env *Env, args []string) error {
					if err := noArgs(args); err != nil {
						return err
					}
					if err := columnsFolder(env); err != nil {
						return err
					}
					return columnsCommand(ctx, env)
				}
			},
		},
		{
			name: "preview", summary: "render a column exactly as a subscriber gets it", usage: "[N] [--text|--html] [--out FILE]",
			groups: groupShared | groupLinks | groupContent | groupFeed,
			flags: func(fs *flag.FlagSet) func(context.Context, *Env, []string) error {
				text := fs.Bool("text", false, "print only the plain-text part")
				html := fs.Bool("html", false, "print only the HTML part")
				out := fs.String("out", "", "write to FILE instead of standard output")
				return func(ctx context.Context, env *Env, args []string) error {
					if err := columnsFolder(env); err != nil {
						return err
					}
					return previewCommand(ctx, env, args, *text, *html, *out)
				}
			},
		},
		{
			name: "subscribers", summary: "manage subscribers: list, add, remove, show, forget, import, export",
			usage:  "list|add|remove|show|forget|import|export ...",
			groups: groupShared,
			flags:  subscribersFlags,
		},
		holdCmd(),
		releaseCmd(),
		proofCmd(),
		backupCmd(),
		copyDBCmd(),
		bouncesCmd(),
	}
}

func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

// run is the whole program; main only supplies the real world.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, getenv, stdin, stdout, stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		fmt.Fprintf(stderr, "newsletter: %s\n", userMessage(ee.err))
		return ee.code
	}
	var ue *usageError
	if errors.As(err, &ue) {
		help := "newsletter --help"
		if len(args) > 1 && isCommand(args[1]) {
			help = "newsletter " + args[1] + " --help"
		}
		fmt.Fprintf(stderr, "newsletter: %s\nRun '%s' for usage.\n", esc(ue.msg), help)
		return 2
	}
	fmt.Fprintf(stderr, "newsletter: %s\n", userMessage(err))
	return 1
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		printMainHelp(stderr)
		return usagef("missing command")
	}
	name := args[1]
	if name == "-h" || name == "--help" || name == "help" {
		printMainHelp(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		cfg := &Config{}
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		where := registerSettings(fs, cfg, c.groups)
		action := c.flags(fs)
		rest, err := parseArgs(fs, args[2:], getenv, cfg)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: newsletter %s %s\n\n%s.\n", c.name, c.usage, capitalize(c.summary))
			switch c.name {
			case "subscribers":
				fmt.Fprint(stdout, subscribersHelp)
			case "bounces":
				fmt.Fprint(stdout, bouncesHelp)
			}
			printFlagHelp(stdout, fs, where)
			return nil
		}
		if err != nil {
			return err
		}
		if err := cfg.finish(c.groups); err != nil {
			return err
		}
		env := &Env{
			Cfg: cfg, Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: getenv,
			Log:        slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
			IsTerminal: isTerminal(stdout),
		}
		if c.name == "serve" || c.name == "send" {
			if strings.TrimSpace(cfg.Imprint) == "" {
				env.Log.Warn("no --imprint set: mails go out without the sender's imprint, which German senders must give (§5 DDG)")
			}
			if strings.HasPrefix(cfg.BaseURL, "http://") && !isLocalURL(cfg.BaseURL) {
				env.Log.Warn("--base-url is not https: Gmail and Yahoo honour one-click unsubscribe only for https links", "base_url", cfg.BaseURL)
			}
		}
		return action(ctx, env, rest)
	}
	return usagef("unknown command %q", name)
}

func printMainHelp(w io.Writer) {
	fmt.Fprint(w, `newsletter: a self-hosted newsletter for a weekly column.

Usage: newsletter COMMAND [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Every setting also reads NEWSLETTER_<FLAG> (upper case, - becomes _); a flag
beats the variable, the variable beats the TOML file named by --config, which
beats the default. A command's own options (--dry-run, --to, --confirmed, ...)
are flags only. Run 'newsletter COMMAND --help' for a command's flags.
`)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// userMessage turns an error into the one line shown on stderr.
func userMessage(err error) string {
	// A bare file error says "open PATH: ..."; the path and the cause are
	// the message. A wrapped one keeps what wrapped it ("load DKIM key:").
	if pe, ok := err.(*os.PathError); ok {
		return esc(fmt.Sprintf("%s: %v", filepath.Clean(pe.Path), pe.Err))
	}
	// The contract is one line: joined errors become one, separated by "; ".
	// Each part may quote a file name or a server's reply, so it is escaped.
	lines := strings.FieldsFunc(err.Error(), func(r rune) bool { return r == '\n' || r == '\r' })
	for i, l := range lines {
		lines[i] = esc(l)
	}
	return strings.Join(lines, "; ")
}

// isLocalURL reports whether u points at this machine (a test or make run).
func isLocalURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	return loopback.Host(p.Hostname())
}

func isCommand(name string) bool {
	for _, c := range commands() {
		if c.name == name {
			return true
		}
	}
	return false
}

// columnsFolder checks --columns names a folder, so a typo is reported as
// such and not as "nothing to send".
func columnsFolder(env *Env) error {
	fi, err := os.Stat(env.Cfg.Columns)
	if err != nil || !fi.IsDir() {
		return fmt.Errorf("--columns: %s is not a folder (the folder holding the column files)", env.Cfg.Columns)
	}
	return nil
}
