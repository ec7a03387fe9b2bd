package mailer

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Prometheus instruments; all nil (no-ops) until
// RegisterMetrics is called.
type metrics struct {
	attempts *prometheus.CounterVec // by kind (campaign|outbox) and result
}

func (mt *metrics) observe(kind string, v verdict) {
	if mt == nil || mt.attempts == nil {
		return
	}
	result := "sent"
	switch v {
	case verdictRetry:
		result = "retry"
	case verdictFailed:
		result = "failed"
	case verdictBounced:
		result = "bounced"
	}
	mt.attempts.WithLabelValues(kind, result).Inc()
}

// RegisterMetrics registers the mailer's metrics on reg:
// newsletter_mail_attempts_total{kind, result} (result sent, retry, failed,
// bounced) and newsletter_bounce_events_total{kind, source} (intake_metrics.go). How many mails wait in the outbox is the web side's
// newsletter_outbox_pending{kind}. Call it once, before sending starts.
func (m *Mailer) RegisterMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	attempts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "newsletter_mail_attempts_total",
		Help: "SMTP delivery attempts by kind (campaign, outbox) and result (sent, retry, failed, bounced).",
	}, []string{"kind", "result"})
	for _, k := range []string{"campaign", "outbox"} {
		for _, r := range []string{"sent", "retry", "failed", "bounced"} {
			attempts.WithLabelValues(k, r)
		}
	}
	if err := reg.Register(attempts); err != nil {
		return fmt.Errorf("register mailer metrics: %w", err)
	}
	if err := reg.Register(newBounceCollector(m.store, m.log)); err != nil {
		return fmt.Errorf("register mailer metrics: %w", err)
	}
	m.metrics = &metrics{attempts: attempts}
	return nil
}
