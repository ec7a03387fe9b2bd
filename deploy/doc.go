// Package deploy holds what runs newsletter in production and no Go code:
// the systemd unit for `newsletter serve` with its sandbox
// (newsletter.service) and the daily backup (newsletter-backup.service and
// newsletter-backup.timer). Its tests check the units with systemd-analyze
// where it is installed; docs/operations.md explains them.
package deploy
