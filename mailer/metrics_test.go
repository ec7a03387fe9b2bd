package mailer

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The outbox's depth is the web side's newsletter_outbox_pending{kind};
// the mailer exports its attempts and the bounce events taken in.
func TestMailerMetrics(t *testing.T) {
	e := newTestEnv(t)
	m := e.mailer()
	reg := prometheus.NewRegistry()
	if err := m.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	if len(names) != 2 || names[0] != "newsletter_bounce_events_total" || names[1] != "newsletter_mail_attempts_total" {
		t.Fatalf("metrics %v, want newsletter_bounce_events_total and newsletter_mail_attempts_total", names)
	}
}
