// Package web is the HTTP side of the newsletter: the chi router and every
// handler a reader or an operator reaches.
//
// routes.go lists the routes: the subscribe form, confirm and unsubscribe
// (a page with one button on GET; POST acts, and POST /unsubscribe is also
// the RFC 8058 one-click target), the archive of sent columns, /healthz and
// /metrics (loopback only). Each concern has its file (subscribe.go,
// confirm.go, unsubscribe.go, archive.go, health.go, metrics.go); forms.go
// reads and validates the forms; errors.go is the one place where an error
// becomes an HTTP status and the words a person sees; middleware.go holds
// the client address, security headers, body and rate limits, logging and
// panic recovery.
//
// The package declares what it needs as small interfaces (OptIn, Health,
// Archive, BodyRenderer, SubscriberCounts), so the double opt-in logic
// stays in subscribers and the sent columns come from mailer.
package web
