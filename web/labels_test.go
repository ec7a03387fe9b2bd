package web

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
)

// Made-up methods and paths must not become new metric series: each would
// stay in memory for good and make every scrape bigger (issue 9: 3,000
// requests took /metrics to 340 MB).
func TestMetricLabelsBounded(t *testing.T) {
	e := newWebEnv(t, nil)
	rng := rand.New(rand.NewPCG(9, 9))
	word := func(n int) string {
		const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
		b := make([]byte, n)
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	const n = 300
	for i := range n {
		method := "M" + word(8)
		path := "/"
		switch i % 3 {
		case 1:
			method = http.MethodGet
			path = "/" + word(12) + "/" + word(5)
		case 2:
			path = "/archive/" + word(6)
		}
		res := e.do(method, path, nil, nil)
		if res.status < 400 {
			t.Fatalf("%s %s: %d", method, path, res.status)
		}
	}
	res := e.get("/metrics")
	var series []string
	for _, line := range strings.Split(res.body, "\n") {
		if strings.HasPrefix(line, "newsletter_http_request_duration_seconds_count") {
			series = append(series, line)
		}
	}
	// GET / and a handful of (route, method, code) combinations; never one
	// per request.
	if len(series) > 10 || len(res.body) > 64<<10 {
		t.Fatalf("%d requests made %d series, /metrics is %d bytes:\n%s", n, len(series), len(res.body), strings.Join(series[:min(20, len(series))], "\n"))
	}
	for _, want := range []string{`method="other",route="other"`, `method="GET",route="other"`} {
		if !strings.Contains(strings.Join(series, "\n"), want) {
			t.Errorf("no series with %s:\n%s", want, strings.Join(series, "\n"))
		}
	}
}
