package subscribers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// tokenView is what confirm.html and unsubscribe.html get.
type tokenView struct{ Token string }

// handleConfirmPage shows one button. It changes nothing, so link scanners
// that fetch every URL in a mail confirm nobody.
func (w *Web) handleConfirmPage(rw http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	lang, err := w.optin.CheckConfirmToken(r.Context(), tok)
	if err != nil {
		w.fail(rw, r, w.lang(r), err)
		return
	}
	w.render(rw, r, http.StatusOK, "confirm", lang, "confirm_title", tokenView{Token: tok})
}

// handleConfirm activates the subscription. The evidence stores the
// sentence of the confirm page in the language it was shown in.
func (w *Web) handleConfirm(rw http.ResponseWriter, r *http.Request) {
	lang := w.lang(r)
	tok, err := formToken(r)
	if err != nil {
		w.fail(rw, r, lang, err)
		return
	}
	if lang, err = w.optin.CheckConfirmToken(r.Context(), tok); err != nil {
		w.fail(rw, r, w.lang(r), err)
		return
	}
	_, err = w.optin.Confirm(r.Context(), tok, Evidence{
		IP: ClientIP(r.Context()), UserAgent: r.UserAgent(), ConsentText: w.pages.ConfirmConsentText(lang),
	})
	if err != nil {
		w.fail(rw, r, lang, err)
		return
	}
	w.render(rw, r, http.StatusOK, "confirmed", lang, "confirmed_title", nil)
}

// handleUnsubscribePage shows one button; it changes nothing.
func (w *Web) handleUnsubscribePage(rw http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	lang, err := w.optin.CheckUnsubscribeToken(r.Context(), tok)
	if err != nil {
		w.fail(rw, r, w.lang(r), fmt.Errorf("%w: %w", errUnsubscribeLink, err))
		return
	}
	if lang == "" {
		lang = w.lang(r)
	}
	w.render(rw, r, http.StatusOK, "unsubscribe", lang, "unsubscribe_title", tokenView{Token: tok})
}

// handleUnsubscribe unsubscribes at once. It is also the RFC 8058
// one-click target that mail clients POST to with the body
// "List-Unsubscribe=One-Click": so it answers 200 with no redirect, sets no
// cookie and needs no CSRF token; the token in the URL is the capability.
func (w *Web) handleUnsubscribe(rw http.ResponseWriter, r *http.Request) {
	lang := w.lang(r)
	tok, err := formToken(r)
	if err != nil {
		w.fail(rw, r, lang, err)
		return
	}
	if l, err := w.optin.CheckUnsubscribeToken(r.Context(), tok); err != nil {
		w.fail(rw, r, lang, fmt.Errorf("%w: %w", errUnsubscribeLink, err))
		return
	} else if l != "" {
		lang = l
	}
	detail := "unsubscribe page"
	if strings.EqualFold(r.PostForm.Get("List-Unsubscribe"), "One-Click") {
		detail = "one-click unsubscribe (RFC 8058)"
	}
	err = w.optin.UnsubscribeByToken(r.Context(), tok, Evidence{IP: ClientIP(r.Context()), UserAgent: r.UserAgent(), Detail: detail})
	if err != nil {
		w.fail(rw, r, lang, fmt.Errorf("%w: %w", errUnsubscribeLink, err))
		return
	}
	if wantsJSON(r) {
		writeJSON(rw, http.StatusOK, jsonAnswer{Status: "ok", Message: w.pages.T(lang, "unsubscribed_text")})
		return
	}
	w.render(rw, r, http.StatusOK, "unsubscribed", lang, "unsubscribed_title", nil)
}

// formToken reads the token of a POST from the query string or the form
// body (urlencoded or multipart, as RFC 8058 allows both).
func formToken(r *http.Request) (string, error) {
	err := r.ParseMultipartForm(DefaultMaxBody)
	// The link's token decides; a body we cannot read must not stop a
	// one-click unsubscribe whose token is in the URL.
	if tok := r.URL.Query().Get("token"); tok != "" {
		return tok, nil
	}
	if err != nil && !errors.Is(err, http.ErrNotMultipart) {
		return "", badForm(err)
	}
	return r.PostForm.Get("token"), nil
}
