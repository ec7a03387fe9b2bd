package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"

	"newsletter/subscribers"
)

// addSubscribeSeeds seeds a subscribe-form fuzz target with (Content-Type,
// body) pairs: the form as browsers and embedded forms post it, and issue
// 9's inputs (formulas, one mailbox under many spellings, header injection,
// terminal escapes, a body over the limit).
func addSubscribeSeeds(f *testing.F) {
	const form, multi, js = "application/x-www-form-urlencoded", "multipart/form-data; boundary=B", "application/json"
	for _, s := range [][2]string{
		{form, "email=leser%40example.org&name=Lea"},
		{form, "email=+Leser%40Example.ORG+&name=+Lea+&lang=en"},
		{form, "email=a%40b.de%0D%0ABcc%3A+x%40y.de&name=x"},
		{form, "email=eve%40example.org&name=Eve%0D%0ABcc%3A+x%40evil.example"},
		{form, "email=%3DHYPERLINK(%22https%3A%2F%2Fevil.example%22)%40example.org&name=%3Dcmd%7C'%2FCcalc'!A0"},
		{form, "email=%2B1-1%40example.org&name=%2B1-1"},
		{form, "email=target%2Bn1%40gmail.com&name=x&lang=de"},
		{form, "email=t.a.r.g.e.t%40googlemail.com"},
		{form, "email=a%40example.org&name=Agent+%C2%9B31m+%E2%80%AE"},
		{form, "email=a%40example.org%00&name=%00"},
		{form, "email=x%40example.org&website=http%3A%2F%2Fspam.example"},
		{form, "email=%ff%fe&name=%c3"},
		{form, "email=a%40example.org&email=b%40example.org"},
		{form, "email=" + strings.Repeat("x", 20<<10) + "%40example.org"},
		{form, "%zz"},
		{multi, "--B\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nm@example.org\r\n--B\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nM\r\nBcc: x\r\n--B--\r\n"},
		{multi, "--B\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nunterminated"},
		{js, `{"email":"j@example.org","name":"J","lang":"en"}`},
		{js, `{"email":"j@example.org\r\nBcc: x@evil.example","name":"J\u2028"}`},
		{js, `{"email":["x"],"name":1}`},
		{js, `{"email":"`},
		{"text/plain", "email=leser@example.org"},
		{"", "email=leser%40example.org"},
		{"application/x-www-form-urlencoded; charset=\x00", "email=a%40example.org"},
	} {
		f.Add(s[0], s[1])
	}
}

// FuzzSubscribeForm: any body, in any content type, decodes to a trimmed
// form or an error without a panic, and a form that Validate accepts holds
// an address that normalises without a line break or control character
// and is its own normalisation.
func FuzzSubscribeForm(f *testing.F) {
	addSubscribeSeeds(f)
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest(http.MethodPost, "/subscribe", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, DefaultMaxBody)
		fm, err := parseSubscribeForm(r, DefaultMaxBody)
		if err != nil {
			return
		}
		for _, v := range []string{fm.Email, fm.Name, fm.Lang, fm.Website} {
			if v != strings.TrimSpace(v) {
				t.Fatalf("field %q not trimmed", v)
			}
		}
		if fm.Validate() != nil {
			return
		}
		email, _, err := subscribers.NormalizeEmail(fm.Email)
		if err != nil {
			t.Fatalf("Validate accepted %q, NormalizeEmail refuses it: %v", fm.Email, err)
		}
		if strings.ContainsFunc(email, unicode.IsControl) || strings.ContainsFunc(fm.Name, unicode.IsControl) {
			t.Fatalf("accepted a control character: %q %q", email, fm.Name)
		}
		if again, _, err := subscribers.NormalizeEmail(email); err != nil || again != email {
			t.Fatalf("not idempotent: %q → %q → %q, %v", fm.Email, email, again, err)
		}
	})
}

// FuzzSubscribeHandler posts the same bodies to the real handler: it
// answers without a server error, and no address or name with a line break
// is ever stored.
func FuzzSubscribeHandler(f *testing.F) {
	addSubscribeSeeds(f)
	e := newWebEnv(f, nil)
	h := e.web.Handler()
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest(http.MethodPost, "/subscribe", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q %q:\n%s", w.Code, contentType, body, w.Body)
		}
		err := e.store.List(context.Background(), subscribers.Filter{}, func(s *subscribers.Subscriber) error {
			if strings.ContainsAny(s.Email+s.Name, "\r\n") {
				t.Fatalf("a line break was stored after %q %q", contentType, body)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
