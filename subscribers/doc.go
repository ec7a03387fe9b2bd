// Package subscribers is the list of readers and the proof of their
// consent: the subscriber model and store (subscriber.go, store.go),
// address normalisation (email.go), double opt-in (optin.go: subscribe,
// confirm, unsubscribe, and the confirmation mail the outbox sends),
// consent evidence (events.go), the suppression list of erased addresses,
// unsubscribe tokens (unsubscribe_token.go), and CSV import and export
// (importexport.go).
//
// It speaks no HTTP: the web package turns requests into calls of OptIn.
// Other packages read and change subscribers only through what this
// package exports.
package subscribers
