// Package loopback tells whether a host is this machine: where a password
// may travel in the clear (SMTP, IMAP) and what counts as a local try-out.
package loopback

import (
	"net"
	"strings"
)

// Host reports whether host (a name or an address, without port) names
// this machine: localhost or a loopback address.
func Host(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
