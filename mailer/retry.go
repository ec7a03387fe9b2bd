package mailer

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// maxRetryDelay caps the pause before one retry of a mail.
const maxRetryDelay = 6 * time.Hour

// retryPolicy is the one retry policy of every mail, campaign delivery and
// outbox item alike: after a temporary failure (4xx, a dropped connection)
// the first retry comes after backoff, each further one after twice the
// pause before (capped at 6h), with jitter; a retry that would fall more
// than giveUpAfter after the mail's start fails it for good.
type retryPolicy struct {
	backoff     time.Duration // Options.RetryBackoff
	giveUpAfter time.Duration // Options.RetryFor
}

// next says when to try again after attempt number attempt (1 = the first)
// failed for now, and whether to give up instead. since is when the mail's
// tries began (its first attempt, or when it was queued); zero means now.
func (p retryPolicy) next(now, since time.Time, attempt int) (at time.Time, giveUp bool) {
	if since.IsZero() {
		since = now
	}
	at = now.Add(jitter(p.backoff, attempt, maxRetryDelay))
	return at, at.After(since.Add(p.giveUpAfter))
}

// gaveUpReply is the reply recorded for a mail the policy gave up on.
func gaveUpReply(attempts int, reply string) string {
	return fmt.Sprintf("gave up after %d attempts: %s", attempts, reply)
}

// jitter is base doubled n-1 times, capped, with ±25 % jitter so that a
// burst of temporary failures, or many waiting connections, do not come
// back as one burst.
func jitter(base time.Duration, n int, limit time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return time.Duration(float64(d) * (0.75 + 0.5*rand.Float64()))
}
