package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"newsletter/web"
)

// minPostmarkPassword is the shortest --webhook-postmark-password taken:
// the password is all that stands between the internet and the
// subscribers' state, and nothing slows down guessing it.
const minPostmarkPassword = 16

// snsTopicARN is an SNS topic ARN: arn:aws:sns:REGION:ACCOUNT:NAME, in
// the commercial, China and GovCloud partitions. The name's limit of 256
// characters (a FIFO topic's ".fifo" included) is checked apart: as
// {1,256} the pattern compiled to 250 KB.
var snsTopicARN = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:sns:[a-z0-9-]+:[0-9]{12}:([A-Za-z0-9_-]+(\.fifo)?)$`)

// isSNSTopicARN reports whether a is an SNS topic ARN.
func isSNSTopicARN(a string) bool {
	m := snsTopicARN.FindStringSubmatch(a)
	return m != nil && len(m[2]) <= 256
}

// finishWebhooks checks the relay webhook settings and fills
// cfg.Webhooks. The errors name the flag and never quote a secret.
func (cfg *Config) finishWebhooks() error {
	w := web.WebhookConfig{MailgunKey: strings.TrimSpace(cfg.WebhookMailgunKey)}
	if w.MailgunKey == "" && cfg.WebhookMailgunKey != "" {
		return usagef("--webhook-mailgun-key: is blank")
	}

	user, password := cfg.WebhookPostmarkUser, cfg.WebhookPostmarkPassword
	switch {
	case user == "" && password != "":
		return usagef("--webhook-postmark-password needs --webhook-postmark-user")
	case user != "" && password == "":
		return usagef("--webhook-postmark-user needs --webhook-postmark-password")
	case strings.ContainsAny(user, ":@/ "):
		// It goes into the webhook URL as https://USER:PASSWORD@host/….
		return usagef("--webhook-postmark-user: must not contain ':', '@', '/' or spaces")
	case password != "" && len(password) < minPostmarkPassword:
		return usagef("--webhook-postmark-password: must be at least %d characters (for instance: openssl rand -hex 16)", minPostmarkPassword)
	}
	w.PostmarkUser, w.PostmarkPassword = user, password

	if path := cfg.WebhookSendGridKey; path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("--webhook-sendgrid-key: cannot read %s: %w", path, errors.Unwrap(err))
		}
		if w.SendGridKey, err = web.ParseSendGridKey(data); err != nil {
			return usagef("--webhook-sendgrid-key: %s: %v; paste the verification key SendGrid shows (Settings > Mail Settings > Signed Event Webhook)", path, err)
		}
	}

	var topics []string
	for _, a := range strings.Split(cfg.WebhookSESTopics, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if !isSNSTopicARN(a) {
			return usagef("--webhook-ses-topics: %q is not an SNS topic ARN like arn:aws:sns:eu-central-1:123456789012:bounces", a)
		}
		topics = append(topics, a)
	}
	switch cfg.WebhookSES {
	case "off":
		if len(topics) > 0 {
			return usagef("--webhook-ses-topics needs --webhook-ses on")
		}
	case "on":
		if len(topics) == 0 {
			// An SNS signature proves SNS sent a message, not whose topic:
			// anyone's topic could post forged bounces.
			return usagef("--webhook-ses on needs --webhook-ses-topics: the SNS topic ARNs your SES bounces and complaints go to")
		}
		w.SES, w.SESTopics = true, topics
	default:
		return usagef("--webhook-ses: %q is not on or off", cfg.WebhookSES)
	}
	cfg.Webhooks = w
	return nil
}
