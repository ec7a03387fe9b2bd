package subscribers_test

import (
	"context"
	"net/url"
	"testing"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
	"newsletter/templates"
)

// A confirmation mail carries a fresh token, and the tokens table keeps
// only its hash: a leaked database holds no usable link.
func TestConfirmTokenStoredHashed(t *testing.T) {
	d := testkit.OpenDB(t, nil)
	pages, err := templates.LoadPages(templates.PageOptions{ListName: "KNIEPUNKT"})
	if err != nil {
		t.Fatal(err)
	}
	optin := subscribers.NewOptIn(testkit.NewStore(t, d), pages, subscribers.OptInConfig{BaseURL: "http://news.test"})
	ctx := context.Background()
	if _, err := optin.Subscribe(ctx, subscribers.SubscribeRequest{Email: "ann@example.org"}); err != nil {
		t.Fatal(err)
	}
	items := testkit.DueOutbox(t, d)
	if len(items) != 1 {
		t.Fatalf("outbox %+v, want one confirmation mail", items)
	}
	m, err := optin.RenderOutbox(ctx, items[0])
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(testkit.ConfirmLink(t, m.Text))
	tok := u.Query().Get("token")
	var n int
	if err := d.SQL().QueryRow(`SELECT COUNT(*) FROM tokens WHERE purpose = 'confirm'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("tokens %d (%v), want 1", n, err)
	}
	if err := d.SQL().QueryRow(`SELECT COUNT(*) FROM tokens WHERE hash = ?`, tok).Scan(&n); err != nil || n != 0 {
		t.Fatalf("token stored in clear (%v)", err)
	}
}
