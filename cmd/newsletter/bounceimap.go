package main

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"

	"newsletter/mailer"
	"newsletter/mailer/mailbox"
)

// bounceIMAPExample is the form --bounce-imap takes, for error messages.
const bounceIMAPExample = "imaps://bounces@example.org@imap.example.org/INBOX"

// finishBounceIMAP checks --bounce-imap, --bounce-imap-password and
// --bounce-poll and fills cfg.BounceMailbox (nil without --bounce-imap).
// No error quotes the password, nor the URL once it might hold one.
func (cfg *Config) finishBounceIMAP() error {
	if cfg.BouncePoll <= 0 {
		return usagef("--bounce-poll: must be positive, got %s", cfg.BouncePoll)
	}
	if cfg.BounceIMAP == "" {
		if cfg.BounceIMAPPassword != "" {
			return usagef("--bounce-imap-password needs --bounce-imap")
		}
		return nil
	}
	mc, err := parseBounceIMAP(cfg.BounceIMAP)
	if err != nil {
		return err
	}
	if cfg.BounceIMAPPassword == "" {
		return usagef("--bounce-imap needs --bounce-imap-password (or NEWSLETTER_BOUNCE_IMAP_PASSWORD)")
	}
	mc.Password, mc.Poll = cfg.BounceIMAPPassword, cfg.BouncePoll
	cfg.BounceMailbox = mc
	return nil
}

// parseBounceIMAP reads imaps://USER@HOST[:PORT]/FOLDER (implicit TLS,
// port 993) or imap://… (STARTTLS required, port 143). USER may hold an
// @ as it is or as %40; FOLDER may name a sub-folder (Bounces/Relay).
func parseBounceIMAP(raw string) (*mailbox.Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's message quotes the whole text, which may hold a password.
		return nil, usagef("--bounce-imap: not a URL like %s", bounceIMAPExample)
	}
	if _, has := u.User.Password(); has {
		return nil, usagef("--bounce-imap: the URL holds a password; give it in --bounce-imap-password (or NEWSLETTER_BOUNCE_IMAP_PASSWORD) instead")
	}
	mc := &mailbox.Config{}
	port := "993"
	switch u.Scheme {
	case "imaps":
		mc.Implicit = true
	case "imap":
		port = "143"
	default:
		return nil, usagef("--bounce-imap: %q: want imaps:// (TLS) or imap:// (STARTTLS), like %s", u.Scheme+"://", bounceIMAPExample)
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, usagef("--bounce-imap: %q names no user: want %s", raw, bounceIMAPExample)
	}
	if u.Hostname() == "" || u.Opaque != "" {
		return nil, usagef("--bounce-imap: %q names no server: want %s", raw, bounceIMAPExample)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return nil, usagef("--bounce-imap: %q: port %q is not a number from 1 to 65535", raw, p)
		}
		port = p
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.Contains(u.Path, ";") {
		return nil, usagef("--bounce-imap: %q: only USER@HOST/FOLDER, no ?, # or ;parameters", raw)
	}
	mc.Folder = strings.Trim(u.Path, "/")
	if mc.Folder == "" {
		return nil, usagef("--bounce-imap: %q names no folder: add it after the server, like %s", raw, bounceIMAPExample)
	}
	mc.User, mc.Addr = u.User.Username(), net.JoinHostPort(u.Hostname(), port)
	return mc, nil
}

// runBounceMailbox polls the bounce mailbox until ctx ends, taking each
// message in through the intake.
func runBounceMailbox(ctx context.Context, log *slog.Logger, mc mailbox.Config, in *mailer.Intake) error {
	mc.Logger = log
	p, err := mailbox.New(mc, intakeHandler(in))
	if err != nil {
		return err
	}
	p.Run(ctx)
	return nil
}

// intakeHandler decides where a message of the bounce mailbox goes by what
// the intake made of it: a report with events (applied now, or a repeat)
// and mail recognised as stating none (an auto-reply, a success report, a
// delay warning, a feedback report that is no complaint) to Processed;
// what it kept for review as unreadable, not a report, forged or about no
// subscriber to Unrecognised, for a human. Any error leaves the message
// for the next poll: one that is not the message's fault must not move it.
func intakeHandler(in *mailer.Intake) mailbox.Handler {
	return func(ctx context.Context, raw []byte) (mailbox.Verdict, error) {
		res, err := in.Ingest(ctx, "imap", raw, false)
		if err != nil {
			return mailbox.Retry, err
		}
		if !res.Kept || res.Reason.Recognised() {
			return mailbox.Processed, nil
		}
		return mailbox.Unrecognised, nil
	}
}
