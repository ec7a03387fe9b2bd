package mailer

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"
)

// markBatch is the most outcomes one marking transaction writes.
const markBatch = 200

// marker writes outcomes to the delivery log with group commit: it takes
// whatever outcomes are waiting (up to markBatch) and writes them in one
// transaction, so under load a commit carries many rows, and when idle a
// row is written at once. A worker waits for its outcome to be committed
// before it starts the next SMTP transaction (it renders the next message
// meanwhile), so after a kill -9 at most one accepted-but-unrecorded
// message per connection is sent again, with the same Message-ID.
type marker struct {
	store *CampaignStore
	owner string
	retry retryPolicy
	log   *slog.Logger
	in    chan outcome
	sent  *sql.Stmt // markSentSQL, prepared once; nil if that failed
	// committed is called after each batch with the outcomes as recorded,
	// or with the batch as handed in and the error when it could not be
	// written.
	committed func([]outcome, error)
	done      chan struct{}
	hurry     chan struct{} // a worker waits for a commit: write what is there now
	expect    int           // outcomes worth waiting for: one per worker
	linger    time.Duration // how long to wait for them
}

func newMarker(store *CampaignStore, o *Options, retry retryPolicy, owner string, committed func([]outcome, error)) *marker {
	mk := &marker{
		store: store, owner: owner, retry: retry,
		log: o.Logger, in: make(chan outcome, 2*markBatch), committed: committed, done: make(chan struct{}),
		hurry:  make(chan struct{}, 1),
		expect: o.Workers, linger: 500 * time.Microsecond,
	}
	// A failed prepare is no reason to stop: writeOutcomes then prepares
	// per row, and a broken database shows there.
	if st, err := store.prepareMarkSent(context.Background()); err == nil {
		mk.sent = st
	}
	go mk.run()
	return mk
}

// add hands an outcome over. The returned channel is closed once it is
// committed (or recording it failed and was logged).
func (mk *marker) add(o outcome) <-chan struct{} {
	o.done = make(chan struct{})
	mk.in <- o
	return o.done
}

// wait returns once the outcome whose channel done is has been committed,
// asking the marker to write at once rather than wait for more outcomes.
func (mk *marker) wait(done <-chan struct{}) {
	select {
	case <-done:
		return
	default:
	}
	select {
	case mk.hurry <- struct{}{}:
	default: // asked already
	}
	<-done
}

// close writes what is left and stops the marker.
func (mk *marker) close() {
	close(mk.in)
	<-mk.done
	if mk.sent != nil {
		_ = mk.sent.Close()
	}
}

func (mk *marker) run() {
	defer close(mk.done)
	buf := make([]outcome, 0, markBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for o := range mk.in {
		buf = append(buf[:0], o)
		// Each worker has at most one outcome waiting; once every worker's
		// is here, after a short linger, or as soon as a worker waits for
		// its outcome (its next message is ready to end), the batch goes.
		// The linger trades a fraction of a millisecond per message
		// (overlapped with the next message's first round trips) for a
		// fraction of the commits, which are most of the CPU recording
		// costs; but a worker kept waiting at the end of DATA costs more:
		// measured at 4 connections, the workers spent 30 % of their time
		// there before a waiting worker could end the batch, 10–16 % after, at
		// two rows a commit instead of four and the same CPU per message.
		linger.Reset(mk.linger)
	collect:
		for len(buf) < mk.expect && len(buf) < markBatch {
			select {
			case o, ok := <-mk.in:
				if !ok {
					break collect
				}
				buf = append(buf, o)
			case <-linger.C:
				break collect
			case <-mk.hurry:
				break collect
			}
		}
		linger.Stop()
	drain:
		for len(buf) < markBatch {
			select {
			case o, ok := <-mk.in:
				if !ok {
					break drain
				}
				buf = append(buf, o)
			default:
				break drain
			}
		}
		mk.flush(buf)
	}
}

// flush commits one batch. The marks must not be lost to a cancelled
// context (shutdown is exactly when they matter), so it runs detached and
// retries a failed commit a few times before giving up loudly: unmarked
// rows come due again when their lease ends and would be sent twice.
func (mk *marker) flush(batch []outcome) {
	ctx := context.Background()
	var recorded []outcome
	var err error
	for try := 0; try < 5; try++ {
		recorded, err = mk.store.record(ctx, mk.sent, mk.owner, mk.retry, batch)
		if err == nil {
			break
		}
		time.Sleep(time.Duration(100*(try+1)) * time.Millisecond)
	}
	if err != nil {
		mk.log.Error("recording deliveries failed; these may be sent again after their lease ends",
			"count", len(batch), "err", err)
		recorded = batch
	}
	if mk.committed != nil {
		mk.committed(recorded, err)
	}
	for _, o := range batch {
		close(o.done)
	}
}

// inflight counts messages handed to workers whose outcome is not yet
// committed, so a sender can wait until the log has caught up.
type inflight struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed while n == 0
}

func newInflight() *inflight {
	z := make(chan struct{})
	close(z)
	return &inflight{zero: z}
}

func (f *inflight) add(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 && n > 0 {
		f.zero = make(chan struct{})
	}
	f.n += n
	if f.n == 0 {
		close(f.zero)
	}
}

// idle returns a channel closed once nothing is in flight.
func (f *inflight) idle() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.zero
}
