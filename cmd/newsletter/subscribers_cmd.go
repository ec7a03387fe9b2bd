package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"newsletter/subscribers"
)

const subscribersHelp = `
Subcommands:
  list [--status S] [--format table|csv|json]   list subscribers (table on a terminal, CSV otherwise)
  add EMAIL [--name NAME] [--confirmed --consent-note TEXT]
                                                add one; pending (a confirmation mail is queued)
                                                unless --confirmed with a note on how they consented
  remove EMAIL                                  unsubscribe; the evidence is kept
  show EMAIL [--format text|json]               everything stored about the person (GDPR access)
  forget EMAIL                                  erase the person's data (GDPR erasure); a keyed hash
                                                stays on a suppression list so imports don't bring it back
  import FILE|- [--confirmed --consent-note TEXT]
                                                add rows from CSV (header: email[,name,status,subscribed_at,...])
  export                                        write all subscribers as CSV to standard output
`

// subscribersFlags registers the flags of all subscriber subcommands and
// refuses those a subcommand does not take.
func subscribersFlags(fs *flag.FlagSet) func(context.Context, *Env, []string) error {
	var o struct {
		status, format, name, consentNote string
		confirmed                         bool
	}
	fs.StringVar(&o.status, "status", "", "list: only subscribers in this state (pending, active, unsubscribed, bounced)")
	fs.StringVar(&o.format, "format", "", "list: table, csv or json; show: text or json")
	fs.StringVar(&o.name, "name", "", "add: the subscriber's name")
	fs.BoolVar(&o.confirmed, "confirmed", false, "add, import: store as active (requires --consent-note)")
	fs.StringVar(&o.consentNote, "consent-note", "", "add, import: how and when consent was given (kept as evidence)")
	allowed := map[string][]string{
		"list": {"status", "format"}, "add": {"name", "confirmed", "consent-note"}, "remove": nil,
		"show": {"format"}, "forget": nil, "import": {"confirmed", "consent-note"}, "export": nil,
	}
	argCount := map[string]int{"list": 0, "add": 1, "remove": 1, "show": 1, "forget": 1, "import": 1, "export": 0}
	return func(ctx context.Context, env *Env, args []string) error {
		if len(args) == 0 {
			return usagef("subscribers: missing subcommand (list, add, remove, show, forget, import, export)")
		}
		sub, rest := args[0], args[1:]
		want, ok := argCount[sub]
		if !ok {
			return usagef("subscribers: unknown subcommand %q", sub)
		}
		if err := subcommandFlags(fs, "subscribers", sub, allowed); err != nil {
			return err
		}
		if len(rest) != want {
			if want == 0 {
				return usagef("subscribers %s: unexpected argument %q", sub, rest[0])
			}
			return usagef("subscribers %s: needs exactly one argument", sub)
		}
		open := openExistingApp
		if sub == "add" || sub == "import" {
			open = openApp // these may start a new list
		}
		app, err := open(ctx, env)
		if err != nil {
			return err
		}
		defer app.Close()
		st := app.Store
		switch sub {
		case "list":
			return listSubscribers(ctx, env, st, o.status, o.format)
		case "add":
			s, err := st.Add(ctx, subscribers.AddParams{
				Email: rest[0], Name: o.name, Lang: env.Cfg.Lang, Confirmed: o.confirmed, ConsentNote: o.consentNote,
				Evidence: subscribers.Evidence{UserAgent: "newsletter CLI"},
			})
			if err != nil {
				return subscriberError(rest[0], err)
			}
			if s.Status == subscribers.StatusActive {
				fmt.Fprintf(env.Stdout, "Added %s as active.\n", esc(s.Email))
			} else {
				fmt.Fprintf(env.Stdout, "Added %s as pending; a confirmation mail is queued and goes out with 'newsletter serve'.\n", esc(s.Email))
			}
			return nil
		case "remove":
			s, err := st.FindByEmail(ctx, rest[0])
			if err != nil {
				return subscriberError(rest[0], err)
			}
			if s.Status == subscribers.StatusUnsubscribed {
				fmt.Fprintf(env.Stdout, "%s was already unsubscribed.\n", esc(s.Email))
				return nil
			}
			if _, err := st.Unsubscribe(ctx, s.ID, subscribers.Evidence{UserAgent: "newsletter CLI", Detail: "removed by an admin"}); err != nil {
				return subscriberError(rest[0], err)
			}
			fmt.Fprintf(env.Stdout, "Unsubscribed %s; the consent evidence is kept.\n", esc(s.Email))
			return nil
		case "show":
			return showSubscriber(ctx, env, st, app.Campaigns, rest[0], o.format)
		case "forget":
			err := st.Forget(ctx, rest[0])
			if errors.Is(err, subscribers.ErrErasedWALBusy) {
				fmt.Fprintf(env.Stderr, "note: %s\n", userMessage(err))
			} else if err != nil {
				return subscriberError(rest[0], err)
			}
			fmt.Fprintf(env.Stdout, "Erased all data about %s. Only a keyed hash of the address stays on the suppression list, so an import cannot bring it back; the person can still subscribe again through the form.\n", esc(strings.TrimSpace(rest[0])))
			return nil
		case "import":
			return importSubscribers(ctx, env, st, rest[0], o.confirmed, o.consentNote)
		case "export":
			return writeCSV(env, func(w io.Writer) error { return st.Export(ctx, w) })
		}
		return nil
	}
}

// subscriberError maps store errors to one clear line.
func subscriberError(email string, err error) error {
	email = strings.TrimSpace(email)
	if norm, _, nerr := subscribers.NormalizeEmail(email); nerr == nil {
		email = norm // say it as stored: max@xn--mller-kva.de, not max@MÜLLER.de
	}
	var ie *subscribers.InvalidError
	switch {
	case errors.As(err, &ie):
		if ie.Field == "email" {
			return fmt.Errorf("%q is not a valid address: it %s", email, ie.Msg)
		}
		if errors.Is(err, subscribers.ErrNoConsentNote) {
			return usagef("--consent-note is required with --confirmed: say how and when the person consented")
		}
		return fmt.Errorf("--%s %s", ie.Field, ie.Msg)
	case errors.Is(err, subscribers.ErrExists):
		return fmt.Errorf("%s is already on the list (see 'newsletter subscribers show %s')", email, email)
	case errors.Is(err, subscribers.ErrNotFound):
		return fmt.Errorf("%s is not on the list", email)
	case errors.Is(err, subscribers.ErrSuppressed):
		return fmt.Errorf("%s: %w", email, err)
	}
	return err
}

func listSubscribers(ctx context.Context, env *Env, st *subscribers.Store, status, format string) error {
	var filter subscribers.Filter
	if status != "" {
		s, err := subscribers.ParseStatus(status)
		if err != nil {
			return usagef("--status: %v", err)
		}
		filter.Status = s
	}
	if format == "" {
		format = "csv"
		if env.IsTerminal {
			format = "table"
		}
	}
	switch format {
	case "table":
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tNAME\tSTATUS\tSUBSCRIBED\tCONFIRMED")
		n := 0
		err := st.List(ctx, filter, func(s *subscribers.Subscriber) error {
			n++
			if _, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", esc(s.Email), esc(s.Name), s.Status, day(s.CreatedAt), day(s.ConfirmedAt)); err != nil {
				return err
			}
			// tabwriter holds rows until Flush: flush in blocks so a long
			// list never sits in memory (column widths may shift per block).
			if n%1000 == 0 {
				return tw.Flush()
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%d subscriber(s)\n", n)
		return nil
	case "csv":
		// The layout of export, formulas neutralised alike.
		return writeCSV(env, func(w io.Writer) error { return st.ExportFilter(ctx, w, filter) })
	case "json":
		// One JSON object per line keeps memory flat for any list size.
		enc := json.NewEncoder(jsonSafe{env.Stdout})
		return st.List(ctx, filter, func(s *subscribers.Subscriber) error {
			return enc.Encode(subscriberJSON(s))
		})
	}
	return usagef("--format: %q is not one of table, csv, json", format)
}

type subscriberOut struct {
	Email          string `json:"email"`
	Name           string `json:"name"`
	Status         string `json:"status"`
	Lang           string `json:"lang"`
	SubscribedAt   string `json:"subscribed_at"`
	ConfirmedAt    string `json:"confirmed_at,omitempty"`
	UnsubscribedAt string `json:"unsubscribed_at,omitempty"`
	UpdatedAt      string `json:"updated_at"`
}

func subscriberJSON(s *subscribers.Subscriber) subscriberOut {
	return subscriberOut{
		Email: s.Email, Name: s.Name, Status: string(s.Status), Lang: s.Lang,
		SubscribedAt: stamp(s.CreatedAt), ConfirmedAt: stamp(s.ConfirmedAt),
		UnsubscribedAt: stamp(s.UnsubscribedAt), UpdatedAt: stamp(s.UpdatedAt),
	}
}

type eventOut struct {
	Kind        string `json:"kind"`
	At          string `json:"at"`
	IP          string `json:"ip,omitempty"`
	UserAgent   string `json:"user_agent,omitempty"`
	ConsentText string `json:"consent_text,omitempty"`
	Detail      string `json:"detail,omitempty"`
}

type deliveryOut struct {
	Column    int    `json:"column"`
	Subject   string `json:"subject"`
	State     string `json:"state"`
	Attempts  int    `json:"attempts"`
	LastReply string `json:"last_reply,omitempty"`
	MessageID string `json:"message_id,omitempty"`
	SentAt    string `json:"sent_at,omitempty"`
}

type outboxOut struct {
	Kind      string `json:"kind"`
	State     string `json:"state"`
	Attempts  int    `json:"attempts"`
	LastReply string `json:"last_reply,omitempty"`
	MessageID string `json:"message_id,omitempty"`
	QueuedAt  string `json:"queued_at"`
	SentAt    string `json:"sent_at,omitempty"`
}

type requestOut struct {
	At     string `json:"at"`
	Name   string `json:"name"`
	Lang   string `json:"lang"`
	Client string `json:"client,omitempty"`
}

func showSubscriber(ctx context.Context, env *Env, st *subscribers.Store, log subscribers.DeliveryLog, email, format string) error {
	r, err := st.Report(ctx, email, log)
	if err != nil {
		return subscriberError(email, err)
	}
	s, events, outbox, deliveries := r.Subscriber, r.Events, r.ServiceMails, r.Deliveries
	switch format {
	case "", "text":
		w := env.Stdout
		fmt.Fprintf(w, "Email:         %s\n", esc(s.Email))
		fmt.Fprintf(w, "Name:          %s\n", orNone(esc(s.Name)))
		fmt.Fprintf(w, "Status:        %s\n", s.Status)
		fmt.Fprintf(w, "Language:      %s\n", s.Lang)
		fmt.Fprintf(w, "Subscribed:    %s\n", orNone(stamp(s.CreatedAt)))
		fmt.Fprintf(w, "Confirmed:     %s\n", orNone(stamp(s.ConfirmedAt)))
		fmt.Fprintf(w, "Unsubscribed:  %s\n", orNone(stamp(s.UnsubscribedAt)))
		fmt.Fprintf(w, "Last change:   %s\n", stamp(s.UpdatedAt))
		fmt.Fprintf(w, "\nConsent evidence (%d event(s), oldest first):\n", len(events))
		for _, e := range events {
			fmt.Fprintf(w, "  %s  %s\n", stamp(e.At), e.Kind)
			if e.IP != "" {
				fmt.Fprintf(w, "      IP:           %s\n", esc(e.IP))
			}
			if e.UserAgent != "" {
				fmt.Fprintf(w, "      User agent:   %s\n", esc(e.UserAgent))
			}
			if e.ConsentText != "" {
				fmt.Fprintf(w, "      Consent text: %s\n", esc(e.ConsentText))
			}
			if e.Detail != "" {
				fmt.Fprintf(w, "      Detail:       %s\n", esc(e.Detail))
			}
		}
		fmt.Fprintf(w, "\nSubscribe requests kept while their links work (%d, oldest first):\n", len(r.Requests))
		for _, q := range r.Requests {
			fmt.Fprintf(w, "  %s  name %s, language %s", stamp(q.At), orNone(esc(q.Name)), q.Lang)
			if q.Client != "" {
				fmt.Fprintf(w, ", from %s", esc(q.Client))
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "\nService mails (%d):\n", len(outbox))
		for _, m := range outbox {
			printMailRecord(w, fmt.Sprintf("%s  %s mail,", stamp(m.CreatedAt), m.Kind), m.State, m.Attempts, m.SentAt, m.MessageID, m.LastReply)
		}
		fmt.Fprintf(w, "\nColumns (%d delivery record(s), newest first):\n", len(deliveries))
		for _, d := range deliveries {
			printMailRecord(w, fmt.Sprintf("%03d  %s:", d.Column, esc(d.Subject)), d.State, d.Attempts, d.SentAt, d.MessageID, d.LastReply)
		}
		printBounces(w, r.Bounces)
		return nil
	case "json":
		out := struct {
			Subscriber   subscriberOut `json:"subscriber"`
			Events       []eventOut    `json:"events"`
			Requests     []requestOut  `json:"subscribe_requests"`
			ServiceMails []outboxOut   `json:"service_mails"`
			Deliveries   []deliveryOut `json:"deliveries"`
			Bounces      []bounceOut   `json:"bounces"`
		}{Subscriber: subscriberJSON(s), Events: []eventOut{}, Requests: []requestOut{}, ServiceMails: []outboxOut{}, Deliveries: []deliveryOut{}, Bounces: bouncesJSON(r.Bounces)}
		for _, q := range r.Requests {
			out.Requests = append(out.Requests, requestOut{At: stamp(q.At), Name: q.Name, Lang: q.Lang, Client: q.Client})
		}
		for _, d := range deliveries {
			out.Deliveries = append(out.Deliveries, deliveryOut{Column: d.Column, Subject: d.Subject, State: d.State,
				Attempts: d.Attempts, LastReply: d.LastReply, MessageID: d.MessageID, SentAt: stamp(d.SentAt)})
		}
		for _, e := range events {
			out.Events = append(out.Events, eventOut{Kind: e.Kind, At: stamp(e.At), IP: e.IP, UserAgent: e.UserAgent, ConsentText: e.ConsentText, Detail: e.Detail})
		}
		for _, m := range outbox {
			out.ServiceMails = append(out.ServiceMails, outboxOut{Kind: m.Kind, State: m.State, Attempts: m.Attempts,
				LastReply: m.LastReply, MessageID: m.MessageID, QueuedAt: stamp(m.CreatedAt), SentAt: stamp(m.SentAt)})
		}
		enc := json.NewEncoder(jsonSafe{env.Stdout})
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return usagef("--format: %q is not one of text, json", format)
}

// printMailRecord is one mail in the access answer: what it was, how it
// stands, and the server's trace of it.
func printMailRecord(w io.Writer, head, state string, attempts int, sentAt time.Time, messageID, reply string) {
	fmt.Fprintf(w, "  %s %s after %d attempt(s)", head, state, attempts)
	if !sentAt.IsZero() {
		fmt.Fprintf(w, ", accepted %s", stamp(sentAt))
	}
	fmt.Fprintln(w)
	if messageID != "" {
		fmt.Fprintf(w, "      Message-ID:   %s\n", esc(messageID))
	}
	if reply != "" {
		fmt.Fprintf(w, "      Last reply:   %s\n", esc(reply))
	}
}

func importSubscribers(ctx context.Context, env *Env, st *subscribers.Store, file string, confirmed bool, note string) error {
	var r io.Reader = env.Stdin
	source := "standard input"
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		r, source = f, file
	}
	shown := 0
	res, err := st.Import(ctx, r, subscribers.ImportOptions{Source: source, Confirmed: confirmed, ConsentNote: note, Lang: env.Cfg.Lang},
		func(p subscribers.ImportProblem) {
			// Say every problem, but don't flood a terminal with a million lines.
			if shown < 1000 {
				fmt.Fprintf(env.Stderr, "%s:%d: %s: %s\n", esc(source), p.Line, orNone(p.Email), p.Reason)
			}
			shown++
		})
	if err != nil {
		if errors.Is(err, subscribers.ErrNoConsentNote) {
			return usagef("--consent-note is required to import subscribers as confirmed: say how and when they consented")
		}
		return fmt.Errorf("import %s: %w (rows before the failure were kept: %d added)", source, err, res.Added)
	}
	if shown > 1000 {
		fmt.Fprintf(env.Stderr, "... and %d more problem rows\n", shown-1000)
	}
	if len(res.IgnoredColumns) > 0 {
		fmt.Fprintf(env.Stderr, "ignored unknown column(s): %s\n", esc(strings.Join(res.IgnoredColumns, ", ")))
	}
	fmt.Fprintf(env.Stdout, "Imported %s: %d added, %d already on the list (unchanged), %d rejected.\n", esc(source), res.Added, res.Unchanged, res.Rejected)
	if res.AddedPending > 0 {
		fmt.Fprintf(env.Stdout, "Note: %d of them are pending. An import sends them no confirmation mail, and 'newsletter serve' deletes unconfirmed subscribers after --purge-pending-after (default 30 days).\n", res.AddedPending)
	}
	return nil
}

// esc makes text that came from outside (names, user agents, SMTP
// replies) safe to print on a terminal.
func esc(s string) string { return subscribers.EscapeText(s) }

// jsonSafe writes encoded JSON with the characters esc escapes as \u
// escapes: the same JSON to a program, harmless on a terminal. A
// json.Encoder hands it each value whole, in one Write.
// writeCSV runs export, which writes CSV. To a file or a pipe it writes the
// exact data, so an export round-trips through import; on a terminal it
// is for reading, so every cell goes through EscapeText and a name with
// U+202E or ESC cannot act on the screen.
func writeCSV(env *Env, export func(io.Writer) error) error {
	if !env.IsTerminal {
		return export(env.Stdout)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := export(pw)
		pw.CloseWithError(err)
		done <- err
	}()
	r := csv.NewReader(pr)
	r.FieldsPerRecord = -1
	cw := csv.NewWriter(env.Stdout)
	var err error
	for {
		var rec []string
		rec, err = r.Read()
		if err != nil {
			break
		}
		for i := range rec {
			rec[i] = esc(rec[i])
		}
		if err = cw.Write(rec); err != nil {
			break
		}
	}
	pr.CloseWithError(errors.New("display stopped")) // the export stops too
	expErr := <-done
	cw.Flush()
	switch {
	case !errors.Is(err, io.EOF):
		return err // the export's own error comes through the pipe
	case expErr != nil:
		return expErr
	}
	return cw.Error()
}

type jsonSafe struct{ w io.Writer }

func (j jsonSafe) Write(p []byte) (int, error) {
	if _, err := j.w.Write(subscribers.EscapeJSON(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02")
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
