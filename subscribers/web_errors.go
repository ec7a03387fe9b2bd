package subscribers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Errors that only the web side raises.
var (
	errPageNotFound     = errors.New("page not found")
	errMethodNotAllowed = errors.New("method not allowed")
	errTooManyRequests  = errors.New("too many requests from this client")
	errUnsubscribeLink  = errors.New("unsubscribe link")
	errBadForm          = errors.New("unreadable form")
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

// webError is what a person is told about an error: a status and the keys
// of a heading and a message in the page strings.
type webError struct {
	status      int
	title, text string
	resubscribe bool // offer "subscribe again"
}

// classify is the one place where errors become HTTP statuses and
// user-facing words. Anything it does not know is an internal error: it is
// logged, and the person sees a generic page, never err.Error().
func classify(err error) (webError, bool) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return webError{http.StatusRequestEntityTooLarge, "too_large_title", "too_large_text", false}, true
	case errors.Is(err, errTooManyRequests):
		return webError{http.StatusTooManyRequests, "too_many_title", "too_many_text", false}, true
	case errors.Is(err, errUnsubscribeLink) && errors.Is(err, ErrBadToken):
		return webError{http.StatusBadRequest, "bad_token_title", "unsub_bad_token_text", false}, true
	case errors.Is(err, ErrTokenExpired):
		return webError{http.StatusGone, "expired_token_title", "expired_token_text", true}, true
	case errors.Is(err, ErrBadToken):
		return webError{http.StatusBadRequest, "bad_token_title", "bad_token_text", true}, true
	case errors.Is(err, errPageNotFound), errors.Is(err, ErrNotFound):
		return webError{http.StatusNotFound, "not_found_title", "not_found_text", false}, true
	case errors.Is(err, errBadForm):
		return webError{http.StatusBadRequest, "bad_form_title", "bad_form_text", false}, true
	case errors.Is(err, errMethodNotAllowed):
		return webError{http.StatusMethodNotAllowed, "method_title", "method_text", false}, true
	}
	return webError{http.StatusInternalServerError, "internal_title", "internal_text", false}, false
}

// errorPage is what error.html gets.
type errorPage struct {
	Heading, Message string
	Resubscribe      bool
}

// fail answers a request that went wrong, as a page or as JSON.
func (w *Web) fail(rw http.ResponseWriter, r *http.Request, lang string, err error) {
	we, known := classify(err)
	if !known {
		w.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if wantsJSON(r) {
		writeJSON(rw, we.status, jsonAnswer{Status: "error", Message: w.pages.T(lang, we.text)})
		return
	}
	w.render(rw, r, we.status, "error", lang, we.title, errorPage{
		Heading: w.pages.T(lang, we.title), Message: w.pages.T(lang, we.text), Resubscribe: we.resubscribe,
	})
}

// fieldMessage turns a validation error into words in lang.
func (w *Web) fieldMessage(lang string, e *InvalidError) string {
	switch {
	case e.Field == "email" && e.Msg == "is empty":
		return w.pages.T(lang, "err_email_empty")
	case e.Field == "email":
		return w.pages.T(lang, "err_email")
	default:
		return w.pages.T(lang, "err_name")
	}
}

// jsonAnswer is the JSON body for embedded forms.
type jsonAnswer struct {
	Status  string            `json:"status"` // "ok", "invalid" or "error"
	Message string            `json:"message,omitempty"`
	Errors  map[string]string `json:"errors,omitempty"` // field → message
}

func writeJSON(rw http.ResponseWriter, status int, v any) {
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(v)
}
