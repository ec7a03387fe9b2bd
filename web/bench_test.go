package web

import (
	"fmt"
	"net/netip"
	"net/url"
	"testing"

	"newsletter/internal/testkit"
)

// BenchmarkSubscribe posts the subscribe form over real HTTP (loopback)
// with distinct addresses, the per-IP limit off, into a SQLite file, from
// 16 concurrent clients (testkit.SubscribeLoad). It reports subscribes/s
// and the p50 and p99 latency.
//
//	go test -run '^$' -bench BenchmarkSubscribe -benchtime 20000x ./web/
func BenchmarkSubscribe(b *testing.B) {
	e := newWebEnv(b, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	ok, _ := testkit.SubscribeLoad(b, e.srv.URL, func(n int64) url.Values {
		return url.Values{"email": {fmt.Sprintf("bench%d@example.org", n)}, "name": {"Bench"}}
	})
	if n := e.queued(); n != ok {
		b.Errorf("outbox rows %d, want %d", n, ok)
	}
}
