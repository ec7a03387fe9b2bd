package mailer

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"newsletter/subscribers"
)

// bounceCollector exports newsletter_bounce_events_total{kind, source},
// counted from the stored events when scraped: most reports come in
// through `bounces ingest`, a process of its own, so a counter kept in
// serve's memory would miss them.
type bounceCollector struct {
	store *subscribers.Store
	log   *slog.Logger
	desc  *prometheus.Desc
}

func newBounceCollector(store *subscribers.Store, log *slog.Logger) *bounceCollector {
	return &bounceCollector{store: store, log: log, desc: prometheus.NewDesc("newsletter_bounce_events_total",
		"Bounce and complaint events taken in, by kind (hard, soft, complaint) and source (pipe, file, mbox, maildir, imap, mailgun, postmark, sendgrid, ses, other).",
		[]string{"kind", "source"}, nil)}
}

// bounceSources are the source labels; any other source counts as "other",
// so the label stays bounded whatever a caller passes.
var bounceSources = map[string]bool{
	"pipe": true, "file": true, "mbox": true, "maildir": true, "imap": true,
	"mailgun": true, "postmark": true, "sendgrid": true, "ses": true,
}

func (c *bounceCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *bounceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	counts, err := c.store.CountBounceEvents(ctx)
	if err != nil {
		c.log.Error("metrics: count bounce events", "err", err)
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	sum := map[[2]string]int{}
	for _, k := range []subscribers.BounceKind{subscribers.BounceHard, subscribers.BounceSoft, subscribers.BounceComplaint} {
		for s := range bounceSources {
			sum[[2]string{string(k), s}] = 0
		}
		sum[[2]string{string(k), "other"}] = 0
	}
	for _, n := range counts {
		// The webhooks store "webhook:mailgun" and the like.
		source := strings.TrimPrefix(n.Source, "webhook:")
		if !bounceSources[source] {
			source = "other"
		}
		sum[[2]string{string(n.Kind), source}] += n.N
	}
	for k, n := range sum {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), k[0], k[1])
	}
}
