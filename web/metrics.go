package web

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"newsletter/subscribers"
)

// SubscriberCounts gives the number of subscribers by state;
// *subscribers.Store is one.
type SubscriberCounts interface {
	CountByStatus(ctx context.Context) (map[subscribers.Status]int, error)
}

// OutboxDepth gives the number of mails waiting in the outbox by kind;
// *db.DB is one.
type OutboxDepth interface {
	OutboxDepth(ctx context.Context) (map[string]int, error)
}

// Metrics are the web side's Prometheus metrics: request durations,
// subscribe outcomes, and, read from the database at scrape time,
// subscribers by state and the outbox depth.
type Metrics struct {
	requests   *prometheus.HistogramVec
	subscribes *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg. subs and outbox are read at
// scrape time.
func NewMetrics(reg prometheus.Registerer, subs SubscriberCounts, outbox OutboxDepth, log *slog.Logger) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "newsletter_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method", "code"}),
		subscribes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newsletter_subscribe_requests_total",
			Help: "Subscribe form submissions by outcome (accepted, invalid, honeypot); accepted does not say whether the address was new, so the metric cannot be used to probe the list.",
		}, []string{"outcome"}),
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, c := range []prometheus.Collector{m.requests, m.subscribes, newStateCollector(subs, outbox, log)} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// otherLabel stands for every method and route we do not serve. Labels
// come from the request, so anything unbounded in them (a made-up method,
// a random path) would make a new series per request, kept for good.
const otherLabel = "other"

// methodLabel is the method as a metric label: the standard methods by
// name, anything else "other".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return otherLabel
}

// routeLabel is the route as a metric label: chi's pattern ("/archive/{number}"),
// or "other" when no route matched (404, an unknown method).
func routeLabel(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return otherLabel
}

func (m *Metrics) observeRequest(method, route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
}

func (m *Metrics) countSubscribe(outcome string) {
	if m == nil {
		return
	}
	m.subscribes.WithLabelValues(outcome).Inc()
}

// stateCollector reads the gauges from the database when scraped, so they
// are right even when another process (the CLI) changed the list.
type stateCollector struct {
	subs                        SubscriberCounts
	outbox                      OutboxDepth
	log                         *slog.Logger
	subscribersDesc, outboxDesc *prometheus.Desc
}

func newStateCollector(subs SubscriberCounts, outbox OutboxDepth, log *slog.Logger) *stateCollector {
	return &stateCollector{
		subs:            subs,
		outbox:          outbox,
		log:             log,
		subscribersDesc: prometheus.NewDesc("newsletter_subscribers", "Subscribers by state.", []string{"state"}, nil),
		outboxDesc:      prometheus.NewDesc("newsletter_outbox_pending", "Mails waiting in the outbox, by kind.", []string{"kind"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.subscribersDesc
	ch <- c.outboxDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	counts, err := c.subs.CountByStatus(ctx)
	if err != nil {
		c.log.Error("metrics: count subscribers", "err", err)
		ch <- prometheus.NewInvalidMetric(c.subscribersDesc, err)
	} else {
		for st, n := range counts {
			ch <- prometheus.MustNewConstMetric(c.subscribersDesc, prometheus.GaugeValue, float64(n), string(st))
		}
	}
	depth, err := c.outbox.OutboxDepth(ctx)
	if err != nil {
		c.log.Error("metrics: outbox depth", "err", err)
		ch <- prometheus.NewInvalidMetric(c.outboxDesc, err)
		return
	}
	for kind, n := range depth {
		ch <- prometheus.MustNewConstMetric(c.outboxDesc, prometheus.GaugeValue, float64(n), kind)
	}
}

// handleMetrics serves the Prometheus metrics to a scraper on this host.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	// Subscriber counts move when someone submits the form, so a public
	// /metrics would let anyone probe whether an address is on the list.
	// Only a scraper on this host, talking to us directly, gets them.
	if s.promh == nil || !directLoopback(r) {
		s.fail(w, r, s.lang(r), errPageNotFound)
		return
	}
	s.promh.ServeHTTP(w, r)
}

// directLoopback reports whether the request comes straight from this
// host: a loopback peer and no proxy header (a reverse proxy on the same
// host relays outside requests from loopback too).
func directLoopback(r *http.Request) bool {
	if r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" || r.Header.Get("X-Real-Ip") != "" {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
