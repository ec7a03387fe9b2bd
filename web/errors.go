package web

import (
	"errors"
	"fmt"
	"net/http"

	"newsletter/mailer"
	"newsletter/subscribers"
)

// Errors that only the web side raises.
var (
	errPageNotFound     = errors.New("page not found")
	errMethodNotAllowed = errors.New("method not allowed")
	errTooManyRequests  = errors.New("too many requests from this client")
	errUnsubscribeLink  = errors.New("unsubscribe link")
	errBadForm          = errors.New("unreadable form")
	errForeignOrigin    = errors.New("form posted from a foreign origin")
	errTrailingJSON     = errors.New("data after the JSON object")
)

// badForm marks a request body we could not parse as the client's fault
// (400), except a body over the limit, which stays a 413.
func badForm(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return err
	}
	return fmt.Errorf("%w: %w", errBadForm, err)
}

// httpError is what a person is told about an error: a status and the keys
// of a heading and a message in the page strings.
type httpError struct {
	status      int
	title, text string
	resubscribe bool // offer "subscribe again"
}

// httpErrorFor is the one place where errors become HTTP statuses and
// user-facing words. Anything it does not know is an internal error
// (known is false): it is logged, and the person sees a generic page,
// never err.Error().
func httpErrorFor(err error) (he httpError, known bool) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return httpError{http.StatusRequestEntityTooLarge, "too_large_title", "too_large_text", false}, true
	case errors.Is(err, errTooManyRequests):
		return httpError{http.StatusTooManyRequests, "too_many_title", "too_many_text", false}, true
	case errors.Is(err, mailer.ErrBadHoldToken):
		return httpError{http.StatusBadRequest, "hold_bad_token_title", "hold_bad_token_text", false}, true
	case errors.Is(err, mailer.ErrAlreadySent):
		return httpError{http.StatusGone, "hold_sent_title", "hold_sent_text", false}, true
	case errors.Is(err, errUnsubscribeLink) && errors.Is(err, subscribers.ErrBadToken):
		return httpError{http.StatusBadRequest, "bad_token_title", "unsub_bad_token_text", false}, true
	case errors.Is(err, subscribers.ErrTokenExpired):
		return httpError{http.StatusGone, "expired_token_title", "expired_token_text", true}, true
	case errors.Is(err, subscribers.ErrBadToken):
		return httpError{http.StatusBadRequest, "bad_token_title", "bad_token_text", true}, true
	case errors.Is(err, errPageNotFound), errors.Is(err, subscribers.ErrNotFound):
		return httpError{http.StatusNotFound, "not_found_title", "not_found_text", false}, true
	case errors.Is(err, errBadForm):
		return httpError{http.StatusBadRequest, "bad_form_title", "bad_form_text", false}, true
	case errors.Is(err, errForeignOrigin):
		return httpError{http.StatusForbidden, "foreign_origin_title", "foreign_origin_text", false}, true
	case errors.Is(err, errMethodNotAllowed):
		return httpError{http.StatusMethodNotAllowed, "method_title", "method_text", false}, true
	}
	return httpError{http.StatusInternalServerError, "internal_title", "internal_text", false}, false
}

// errorPage is what error.html gets.
type errorPage struct {
	Heading, Message string
	Resubscribe      bool
}

// fail answers a request that went wrong, as a page or as JSON.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, lang string, err error) {
	he, known := httpErrorFor(err)
	if !known {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if wantsJSON(r) {
		writeJSON(w, he.status, jsonAnswer{Status: "error", Message: s.pages.T(lang, he.text)})
		return
	}
	s.render(w, r, he.status, "error", lang, he.title, errorPage{
		Heading: s.pages.T(lang, he.title), Message: s.pages.T(lang, he.text), Resubscribe: he.resubscribe,
	})
}

// fieldMessage turns a validation error into words in lang.
func (s *Server) fieldMessage(lang string, e *subscribers.InvalidError) string {
	switch {
	case e.Field == "email" && e.Msg == "is empty":
		return s.pages.T(lang, "err_email_empty")
	case e.Field == "email":
		return s.pages.T(lang, "err_email")
	default:
		return s.pages.T(lang, "err_name")
	}
}
