package main

import (
	"strings"
	"testing"
)

// Moved from mailer with the validation of DKIM settings: the error names
// exactly the flags still missing, and none that is set.
func TestDKIMErrorNamesWhatIsMissing(t *testing.T) {
	for _, tc := range []struct {
		domain, selector, key string
		want, not             []string
	}{
		{"example.org", "", "k.pem", []string{"--dkim-selector"}, []string{"--dkim-domain", "--dkim-key"}},
		{"", "s1", "k.pem", []string{"--dkim-domain"}, []string{"--dkim-selector", "--dkim-key"}},
		{"example.org", "s1", "", []string{"--dkim-key"}, []string{"--dkim-domain", "--dkim-selector"}},
		{"", "", "k.pem", []string{"--dkim-domain", "--dkim-selector"}, []string{"--dkim-key"}},
	} {
		err := checkDKIM(tc.domain, tc.selector, tc.key)
		if err == nil {
			t.Errorf("%+v: no error", tc)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %q does not name %s", tc, err, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(err.Error(), n) {
				t.Errorf("%+v: %q names %s, which is set", tc, err, n)
			}
		}
	}
}

// Settings are checked where they are read, and the errors name the flag.
func TestSettingErrorsNameTheFlag(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--schedule", "every monday"}, "--schedule"},
		{[]string{"serve", "--welcome", "always"}, "--welcome"},
		{[]string{"send", "--dry-run", "--smtp-addr", "mail.example.org"}, "--smtp-addr"},
		{[]string{"send", "--dry-run", "--smtp-addr", "mail.example.org:smtp"}, "--smtp-addr"},
		{[]string{"send", "--dry-run", "--lease", "500ms"}, "--lease"},
		{[]string{"send", "--dry-run", "--lease", "0s"}, "--lease"},
		{[]string{"send", "--dry-run", "--dkim-selector", "s1"}, "--dkim-key FILE"},
	} {
		_, errOut, code := c.run("", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "newsletter: ") != 1 {
			t.Errorf("%q: exit %d, %q", tc.args, code, errOut)
		}
	}
	// The lease is a setting like the others: NEWSLETTER_LEASE is read.
	c.env["NEWSLETTER_LEASE"] = "10ms"
	_, errOut, code := c.run("", "send", "--dry-run")
	if code != 2 || !strings.Contains(errOut, "--lease") {
		t.Errorf("NEWSLETTER_LEASE=10ms: exit %d, %q", code, errOut)
	}
}

func TestParseTrustedProxies(t *testing.T) {
	ps, err := parseTrustedProxies(" 10.0.0.0/8, 192.168.1.7 ,::1")
	if err != nil || len(ps) != 3 || ps[1].Bits() != 32 {
		t.Fatalf("%v %v", ps, err)
	}
	if _, err := parseTrustedProxies("nonsense"); err == nil {
		t.Error("want error")
	}
	if got, err := parseOrigins("https://a.example/, ,https://b.example"); err != nil || len(got) != 2 || got[0] != "https://a.example" {
		t.Errorf("origins %v %v", got, err)
	}
}

// A subcommand's own flag given to another subcommand is a usage error;
// the shared settings go with every subcommand.
func TestSubcommandFlagsDoNotApply(t *testing.T) {
	c := newCLI(t)
	if _, errOut, code := c.run("", "subscribers", "add", "leser@example.org"); code != 0 {
		t.Fatalf("add: %d %s", code, errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"subscribers", "export", "--status", "active"}, "subscribers export: flag --status does not apply here"},
		{[]string{"subscribers", "remove", "x@example.org", "--confirmed"}, "subscribers remove: flag --confirmed does not apply here"},
		{[]string{"bounces", "ingest", "--limit", "5"}, "bounces ingest: flag --limit does not apply here"},
		{[]string{"bounces", "list", "--dry-run"}, "bounces list: flag --dry-run does not apply here"},
	} {
		if _, errOut, code := c.run("", tc.args...); code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q", tc.args, code, errOut)
		}
	}
	if out, errOut, code := c.run("", "subscribers", "list", "--status", "pending", "--timezone", "UTC"); code != 0 || !strings.Contains(out, "leser@example.org") {
		t.Errorf("list with a shared setting: exit %d\n%s%s", code, out, errOut)
	}
}
