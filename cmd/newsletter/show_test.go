package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// The GDPR access answer includes the delivery log: which columns went to
// the person, when, with which Message-ID and server reply.
func TestShowIncludesDeliveries(t *testing.T) {
	f := newSendFixture(t, 2)
	if _, errOut, code := f.run(t, "send"); code != 0 {
		t.Fatalf("send: %d %s", code, errOut)
	}
	out, errOut, code := f.run(t, "subscribers", "show", "leser1@example.net")
	if code != 0 {
		t.Fatalf("show: %d %s", code, errOut)
	}
	for _, want := range []string{"Columns (1 delivery record(s)", "031  KNIEPUNKT 031: Heiße KI-Luft: sent after 1 attempt(s)", "Message-ID:   c31."} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = f.run(t, "subscribers", "show", "leser1@example.net", "--format", "json")
	var got struct {
		Deliveries []struct {
			Column    int    `json:"column"`
			State     string `json:"state"`
			MessageID string `json:"message_id"`
		} `json:"deliveries"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Deliveries) != 1 || got.Deliveries[0].Column != 31 || got.Deliveries[0].State != "sent" || got.Deliveries[0].MessageID == "" {
		t.Fatalf("json deliveries %+v", got.Deliveries)
	}
}
