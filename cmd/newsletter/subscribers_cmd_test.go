package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"newsletter/internal/testkit"
)

// cli runs the program like a shell would and returns its output and exit code.
type cli struct {
	t   *testing.T
	dir string
	db  string // the test database: a file in dir, or a PostgreSQL URL
	env map[string]string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	return &cli{t: t, dir: t.TempDir(), db: testkit.NewDBName(t), env: map[string]string{}}
}

func (c *cli) run(stdin string, args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	// Every command gets the test database unless it names one.
	hasDB := false
	for _, a := range args {
		if a == "--db" || strings.HasPrefix(a, "--db=") {
			hasDB = true
		}
	}
	if !hasDB && len(args) > 0 && !strings.HasPrefix(args[0], "-") && args[0] != "help" {
		args = append(args[:len(args):len(args)], "--db", c.db)
	}
	return runWith(c.env, stdin, args...)
}

func TestSubscribersCLI(t *testing.T) {
	c := newCLI(t)
	steps := []struct {
		args       []string
		stdin      string
		code       int
		out, err   string // substrings expected
		oneErrLine bool
	}{
		{args: []string{"subscribers", "add", " Anna@Example.ORG ", "--name", "Anna"}, out: "Added Anna@example.org as pending"},
		{args: []string{"subscribers", "add", "anna@example.org"}, code: 1, err: "already on the list", oneErrLine: true},
		{args: []string{"subscribers", "add", "bob@example.org", "--confirmed"}, code: 2, err: "--consent-note is required"},
		{args: []string{"subscribers", "add", "bob@example.org", "--confirmed", "--consent-note", "Anmeldung am Stand, 2026-11-01"}, out: "as active"},
		{args: []string{"subscribers", "add", "a@b@example.org"}, code: 1, err: "not a valid address", oneErrLine: true},
		{args: []string{"subscribers", "add", "x@example.org\r\nBcc: y@example.org"}, code: 1, err: "line breaks", oneErrLine: true},
		{args: []string{"subscribers", "show", "anna@example.org"}, out: "confirm mail, pending after 0 attempt(s)"},
		{args: []string{"subscribers", "list", "--format", "csv"}, out: "bob@example.org,,active"},
		{args: []string{"subscribers", "list", "--status", "pending", "--format", "table"}, out: "1 subscriber(s)"},
		{args: []string{"subscribers", "list", "--status", "nope"}, code: 2, err: "unknown status"},
		{args: []string{"subscribers", "list", "--format", "xml"}, code: 2, err: "--format"},
		{args: []string{"subscribers", "show", "bob@example.org"}, out: "Consent text: Anmeldung am Stand, 2026-11-01"},
		{args: []string{"subscribers", "show", "nobody@example.org"}, code: 1, err: "not on the list", oneErrLine: true},
		{args: []string{"subscribers", "remove", "bob@example.org"}, out: "Unsubscribed bob@example.org"},
		{args: []string{"subscribers", "remove", "bob@example.org"}, out: "already unsubscribed"},
		{args: []string{"subscribers", "forget", "anna@example.org"}, out: "suppression list"},
		{args: []string{"subscribers", "import", "-"}, stdin: "email,name\nneu@example.org,Neu\nanna@example.org,\nkaputt\n", out: "1 added, 0 already on the list (unchanged), 2 rejected", err: "standard input:4: kaputt"},
		{args: []string{"subscribers", "import", "-"}, stdin: "email\nspaeter@example.org\n", out: "1 of them are pending"},
		{args: []string{"subscribers", "import", "-"}, stdin: "email\n\"kaputt\n", out: "0 added", err: "standard input:2"},
		{args: []string{"subscribers", "add", "x@localhost"}, code: 1, err: `"x@localhost" is not a valid address: it has a domain "localhost" without a dot`, oneErrLine: true},
		{args: []string{"send", "--to", "a@example.org", "--dry-run"}, code: 2, err: "exclude each other"},
		{args: []string{"send", "--to", ""}, code: 2, err: "--to: empty address"},
		{args: []string{"send", "--column", "0"}, code: 2, err: "--column: 0 is not a column number"},
		{args: []string{"preview", "--templates", "/does/not/exist"}, code: 1, err: "--templates: /does/not/exist is not a folder"},
		{args: []string{"preview", "7", "--columns", "/does/not/exist"}, code: 1, err: "/does/not/exist", oneErrLine: true},
		{args: []string{"subscribers", "import", "-", "--confirmed"}, stdin: "email\n", code: 2, err: "consent-note"},
		{args: []string{"subscribers", "import", "/does/not/exist.csv"}, code: 1, err: "no such file"},
		{args: []string{"subscribers", "frobnicate"}, code: 2, err: "unknown subcommand"},
		{args: []string{"subscribers", "list", "--name", "x"}, code: 2, err: "does not apply"},
		{args: []string{"subscribers", "add"}, code: 2, err: "exactly one argument"},
		{args: []string{"nonsense"}, code: 2, err: "unknown command"},
		{args: []string{}, code: 2, err: "missing command"},
	}
	for _, s := range steps {
		out, errOut, code := c.run(s.stdin, s.args...)
		name := strings.Join(s.args, " ")
		if code != s.code {
			t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", name, code, s.code, out, errOut)
		}
		if !strings.Contains(out, s.out) {
			t.Errorf("%s: stdout %q lacks %q", name, out, s.out)
		}
		if !strings.Contains(errOut, s.err) {
			t.Errorf("%s: stderr %q lacks %q", name, errOut, s.err)
		}
		if s.oneErrLine && strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%s: stderr is not one line: %q", name, errOut)
		}
	}
}

func TestShowJSONAndExportReimport(t *testing.T) {
	c := newCLI(t)
	c.run("", "subscribers", "add", "lea@example.org", "--name", "Lea", "--confirmed", "--consent-note", "Brief vom 2026-10-01")
	c.run("", "subscribers", "add", "max@example.org")
	out, _, code := c.run("", "subscribers", "show", "lea@example.org", "--format", "json")
	if code != 0 {
		t.Fatalf("show exit %d", code)
	}
	var shown struct {
		Subscriber struct{ Email, Status string }
		Events     []struct {
			Kind        string `json:"kind"`
			ConsentText string `json:"consent_text"`
		}
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("show json: %v\n%s", err, out)
	}
	if shown.Subscriber.Status != "active" || len(shown.Events) != 1 || shown.Events[0].ConsentText != "Brief vom 2026-10-01" {
		t.Fatalf("show: %+v", shown)
	}

	export, _, code := c.run("", "subscribers", "export")
	if code != 0 || !strings.HasPrefix(export, "email,name,status,subscribed_at,confirmed_at,lang\n") {
		t.Fatalf("export %d: %q", code, export)
	}
	file := filepath.Join(c.dir, "export.csv")
	os.WriteFile(file, []byte(export), 0o600)
	other := filepath.Join(c.dir, "other.db")
	out, errOut, code := c.run("", "subscribers", "import", file, "--db", other, "--consent-note", "Umzug aus der alten Datenbank")
	if code != 0 || !strings.Contains(out, "2 added") {
		t.Fatalf("import %d: %s %s", code, out, errOut)
	}
	out, _, _ = c.run("", "subscribers", "import", file, "--db", other, "--consent-note", "Umzug aus der alten Datenbank")
	if !strings.Contains(out, "0 added, 2 already on the list") {
		t.Fatalf("re-import changed something: %s", out)
	}
	again, _, _ := c.run("", "subscribers", "export", "--db", other)
	if again != export {
		t.Fatalf("round trip differs:\n%s\n---\n%s", export, again)
	}
}

func TestConfigPrecedence(t *testing.T) {
	c := newCLI(t)
	conf := filepath.Join(c.dir, "n.toml")
	os.WriteFile(conf, []byte("db = \""+filepath.Join(c.dir, "file.db")+"\"\nworkers = 3\n"), 0o600)
	// The file names the database; the environment overrides it; a flag beats both.
	c.run("", "subscribers", "add", "f@example.org", "--config", conf, "--db", filepath.Join(c.dir, "flag.db"))
	c.env["NEWSLETTER_DB"] = filepath.Join(c.dir, "env.db")
	var out bytes.Buffer
	getenv := func(k string) string { return c.env[k] }
	run(context.Background(), []string{"newsletter", "subscribers", "add", "e@example.org", "--config", conf}, getenv, nil, &out, &out)
	delete(c.env, "NEWSLETTER_DB")
	run(context.Background(), []string{"newsletter", "subscribers", "add", "c@example.org", "--config", conf}, getenv, nil, &out, &out)
	for db, email := range map[string]string{"flag.db": "f@example.org", "env.db": "e@example.org", "file.db": "c@example.org"} {
		got, errOut, code := c.run("", "subscribers", "list", "--format", "csv", "--db", filepath.Join(c.dir, db))
		if code != 0 || !strings.Contains(got, email) || strings.Count(got, "\n") != 2 {
			t.Errorf("%s: want only %s, got %q %s", db, email, got, errOut)
		}
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	c := newCLI(t)
	conf := filepath.Join(c.dir, "bad.toml")
	for _, tt := range []struct{ file, want string }{
		{"wokers = 3\n", `unknown key "wokers"`},
		{"workers = \"many\"\n", "workers: invalid value"},
		{"this is not toml", "config file"},
		{"dry-run = true\n", `unknown key "dry-run"`},
		{"smtp_password = hunter2secret\n", "line 1: not valid TOML"},
	} {
		os.WriteFile(conf, []byte(tt.file), 0o600)
		_, errOut, code := c.run("", "send", "--dry-run", "--config", conf)
		if code != 2 || !strings.Contains(errOut, tt.want) || strings.Contains(errOut, "hunter") {
			t.Errorf("%q: exit %d, stderr %q, want %q (and no secret)", tt.file, code, errOut, tt.want)
		}
	}
	c.env["NEWSLETTER_SMTP_TLS"] = "sometimes"
	_, errOut, code := c.run("", "send", "--dry-run")
	if code != 2 || !strings.Contains(errOut, "--smtp-tls") {
		t.Errorf("bad env value: exit %d, %q", code, errOut)
	}
	delete(c.env, "NEWSLETTER_SMTP_TLS")
	for _, bad := range [][]string{
		{"--from", "not an address", "--from"},
		{"--workers", "0", "--workers"},
		{"--base-url", "ftp://x", "--base-url"},
		{"--retry-for", "0s", "--retry-for"},
	} {
		_, errOut, code := c.run("", "send", "--dry-run", bad[0], bad[1])
		if code != 2 || !strings.Contains(errOut, bad[2]) {
			t.Errorf("%s %q: exit %d, %q", bad[0], bad[1], code, errOut)
		}
	}
	_, errOut, code = c.run("", "serve", "--allowed-origins", "not a url")
	if code != 2 || !strings.Contains(errOut, "--allowed-origins") {
		t.Errorf("bad origin: exit %d, %q", code, errOut)
	}
	_, errOut, code = c.run("", "send", "--timezone", "Mars/Olympus")
	if code != 2 || !strings.Contains(errOut, "time zone") {
		t.Errorf("bad timezone: exit %d, %q", code, errOut)
	}
}

func TestHelpListsEverySettingAndHidesSecrets(t *testing.T) {
	c := newCLI(t)
	out, _, code := c.run("", "--help")
	if code != 0 || !strings.Contains(out, "subscribers") || !strings.Contains(out, "NEWSLETTER_") {
		t.Fatalf("main help: %d %q", code, out)
	}
	c.env["NEWSLETTER_SMTP_PASSWORD"] = "hunter2-secret"
	out, _, code = c.run("", "serve", "--help")
	sendHelp, _, code2 := c.run("", "send", "--help")
	if code != 0 || code2 != 0 {
		t.Fatalf("serve --help exit %d, send --help exit %d", code, code2)
	}
	out += sendHelp
	for name := range allSettingNames() {
		if !strings.Contains(out, "--"+name+" ") {
			t.Errorf("neither serve nor send --help lists --%s", name)
		}
	}
	// preview takes no SMTP settings; command options read no variable.
	previewHelp, _, _ := c.run("", "preview", "--help")
	if strings.Contains(previewHelp, "--smtp-addr") || strings.Contains(sendHelp, "NEWSLETTER_DRY_RUN") {
		t.Errorf("help lists flags a command does not use:\n%s", previewHelp)
	}
	if strings.Contains(out, "hunter2") {
		t.Fatal("help printed the SMTP password")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range allSettingNames() {
		if !strings.Contains(string(readme), "`--"+name+"`") {
			t.Errorf("README configuration table lacks `--%s`", name)
		}
	}
}
