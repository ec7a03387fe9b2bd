package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var units = []string{"newsletter.service", "newsletter-backup.service", "newsletter-backup.timer"}

// serveDrain is cmd/newsletter's shutdownGrace: how long serve lets
// requests finish after SIGTERM, before it drains the outbox.
const serveDrain = 20 * time.Second

// installed copies the units to a temporary folder with the binary path
// replaced by one that exists here: systemd-analyze insists on an
// executable ExecStart.
func installed(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("/usr/local/bin/newsletter"), []byte(exe))
		if err := os.WriteFile(filepath.Join(dir, u), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestUnitsVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd); the units are not verified")
	}
	dir := installed(t)
	args := []string{"verify"}
	for _, u := range units {
		args = append(args, "./"+u)
	}
	cmd := exec.Command("systemd-analyze", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	// verify exits 0 on an unknown key or a bad value and only says so:
	// every line about our units is a failure. Lines about other units on
	// this machine are not ours to judge.
	var ours []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "newsletter") {
			ours = append(ours, l)
		}
	}
	if err != nil || len(ours) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestServiceSandboxExposure keeps the sandbox from being weakened by
// accident: systemd's own score of the unit stays "OK" (below 2.0, where
// 10 is an unprotected service).
func TestServiceSandboxExposure(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd)")
	}
	dir := installed(t)
	cmd := exec.Command("systemd-analyze", "security", "--offline=yes", "--no-pager", "./newsletter.service")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for newsletter\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		if err != nil {
			t.Skipf("this systemd-analyze has no offline security check (systemd 250 and later): %v", err)
		}
		t.Fatalf("no exposure level in:\n%s", out)
	}
	if level, _ := strconv.ParseFloat(string(m[1]), 64); level >= 2.0 {
		t.Errorf("exposure level %.1f, want below 2.0:\n%s", level, out)
	}
}

// TestServiceSettings pins what the unit promises in docs/operations.md;
// it runs with or without systemd.
func TestServiceSettings(t *testing.T) {
	b, err := os.ReadFile("newsletter.service")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string][]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && !strings.HasPrefix(k, "#") {
			set[k] = append(set[k], v)
		}
	}
	for k, want := range map[string]string{
		"ExecStart":               "/usr/local/bin/newsletter serve",
		"DynamicUser":             "yes",
		"StateDirectory":          "newsletter",
		"WorkingDirectory":        "/var/lib/newsletter",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"NoNewPrivileges":         "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"CapabilityBoundingSet":   "",
		"UMask":                   "0077",
		"EnvironmentFile":         "/etc/newsletter/env",
		"Restart":                 "on-failure",
		"KillSignal":              "SIGTERM",
	} {
		if len(set[k]) == 0 || set[k][0] != want {
			t.Errorf("%s=%q, want %q", k, set[k], want)
		}
	}
	if f := set["SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("SystemCallFilter=%q, want @system-service first", f)
	}
	stop, err := time.ParseDuration(strings.Join(set["TimeoutStopSec"], ""))
	if err != nil || stop <= serveDrain {
		t.Errorf("TimeoutStopSec=%q: want more than serve's %v drain", set["TimeoutStopSec"], serveDrain)
	}
	// Secrets come from the env file only.
	for _, e := range set["Environment"] {
		if strings.Contains(strings.ToUpper(e), "PASSWORD") || strings.Contains(strings.ToUpper(e), "KEY") {
			t.Errorf("secret in the unit: Environment=%s", e)
		}
	}
}
