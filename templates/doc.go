// Package templates holds what subscribers read around a column: the email
// templates and the web pages (embedded, each file replaceable from
// --templates), and the rendering of a column into the HTML and plain-text
// parts of its mail.
//
// render.go renders a column once per campaign (MailRenderer.Prepare) and
// personalises it per recipient; wrap.go lays out the text part; pages.go
// loads the pages and the confirmation mail; welcome.go renders the
// welcome mail, a greeting alone or above a column as subscribers got it. The column itself, and which
// one goes out, come from package columns.
package templates
