package web

import (
	"fmt"
	"net/http"

	"newsletter/subscribers"
)

// handleUnsubscribePage shows one button; it changes nothing.
func (s *Server) handleUnsubscribePage(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	lang, err := s.optin.CheckUnsubscribeToken(r.Context(), tok)
	if err != nil {
		s.fail(w, r, s.lang(r), fmt.Errorf("%w: %w", errUnsubscribeLink, err))
		return
	}
	if lang == "" {
		lang = s.lang(r)
	}
	s.render(w, r, http.StatusOK, "unsubscribe", lang, "unsubscribe_title", tokenView{Token: tok})
}

// handleUnsubscribe unsubscribes at once. It is also the RFC 8058
// one-click target that mail clients POST to with the body
// "List-Unsubscribe=One-Click": so it answers 200 with no redirect, sets no
// cookie and needs no CSRF token; the token in the URL is the capability.
// The page's own button (no one-click body) is a form POST like the others
// and must come from our pages.
func (s *Server) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	lang := s.lang(r)
	f, err := parseTokenForm(r, s.cfg.MaxBody)
	if err != nil {
		s.fail(w, r, lang, err)
		return
	}
	// A one-click post comes from the mail provider: from its servers
	// (no Origin) or from the reader's webmail (its own origin). The token
	// in the URL is the capability, so its Origin does not matter.
	if !f.OneClick {
		if err := s.originError(r); err != nil {
			s.fail(w, r, lang, err)
			return
		}
	}
	if l, err := s.optin.CheckUnsubscribeToken(r.Context(), f.Token); err != nil {
		s.fail(w, r, lang, fmt.Errorf("%w: %w", errUnsubscribeLink, err))
		return
	} else if l != "" {
		lang = l
	}
	detail := "unsubscribe page"
	if f.OneClick {
		detail = "one-click unsubscribe (RFC 8058)"
	}
	err = s.optin.UnsubscribeByToken(r.Context(), f.Token, subscribers.Evidence{IP: clientIP(r.Context()), UserAgent: r.UserAgent(), Detail: detail})
	if err != nil {
		s.fail(w, r, lang, fmt.Errorf("%w: %w", errUnsubscribeLink, err))
		return
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, jsonAnswer{Status: "ok", Message: s.pages.T(lang, "unsubscribed_text")})
		return
	}
	s.render(w, r, http.StatusOK, "unsubscribed", lang, "unsubscribed_title", nil)
}
