// Package admission limits how many requests run at once: up to MaxActive
// run, up to MaxQueue more wait in FIFO order for at most QueueTimeout, and
// the rest get 503 with Retry-After. It bounds the number of plugin streams,
// and with it every per-stream buffer on both sides of the bridge (HTTP/2
// windows, gRPC receive buffers, request pump buffers), so memory follows the
// limit and not the number of clients.
package admission

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// Defaults for Limiter's zero-valued fields.
const (
	// DefaultQueueTimeout is how long a request may wait for a slot: long
	// enough for the waves of large transfers ahead of it to finish on a busy
	// machine (256 x 64 MiB through 12 slots took 70 s on 2 shared cores).
	DefaultQueueTimeout = 5 * time.Minute
	// DefaultRetryAfter is the Retry-After sent with a 503.
	DefaultRetryAfter = time.Second
)

// Reasons a request was not admitted.
var (
	ErrQueueFull    = errors.New("admission queue full")
	ErrQueueTimeout = errors.New("no stream slot within the admission queue timeout")
)

// Limiter is a counting semaphore with a bounded wait queue. Build it with
// New; it is safe for concurrent use.
type Limiter struct {
	slots        *semaphore.Weighted // FIFO: a waiter is never overtaken
	maxActive    int64
	maxQueue     int64
	queueTimeout time.Duration

	active   atomic.Int64
	queued   atomic.Int64
	rejected atomic.Int64
}

// New returns a Limiter that runs maxActive requests at once and queues up
// to maxQueue more for queueTimeout (zero: DefaultQueueTimeout). maxQueue 0
// rejects at once when all slots are taken.
func New(maxActive, maxQueue int, queueTimeout time.Duration) *Limiter {
	if maxActive < 1 {
		maxActive = 1
	}
	if maxQueue < 0 {
		maxQueue = 0
	}
	if queueTimeout <= 0 {
		queueTimeout = DefaultQueueTimeout
	}
	return &Limiter{
		slots:        semaphore.NewWeighted(int64(maxActive)),
		maxActive:    int64(maxActive),
		maxQueue:     int64(maxQueue),
		queueTimeout: queueTimeout,
	}
}

// Acquire waits for a slot. It returns a release func (call it exactly once)
// or ErrQueueFull, ErrQueueTimeout, or ctx's error when ctx ends first (the
// client went away): the waiter is then removed and nothing is left behind.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	if !l.slots.TryAcquire(1) {
		if l.queued.Add(1) > l.maxQueue {
			l.queued.Add(-1)
			l.rejected.Add(1)
			return nil, ErrQueueFull
		}
		waitCtx, cancel := context.WithTimeout(ctx, l.queueTimeout)
		err := l.slots.Acquire(waitCtx, 1)
		cancel()
		l.queued.Add(-1)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			l.rejected.Add(1)
			return nil, ErrQueueTimeout
		}
	}
	l.active.Add(1)
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			l.active.Add(-1)
			l.slots.Release(1)
		}
	}, nil
}

// MaxActive is the configured number of slots.
func (l *Limiter) MaxActive() int64 { return l.maxActive }

// MaxQueue is the configured queue length.
func (l *Limiter) MaxQueue() int64 { return l.maxQueue }

// Active is the number of admitted requests running now.
func (l *Limiter) Active() int64 { return l.active.Load() }

// Queued is the number of requests waiting for a slot now.
func (l *Limiter) Queued() int64 { return l.queued.Load() }

// RejectedTotal counts requests answered 503 (queue full or timed out) since start.
func (l *Limiter) RejectedTotal() int64 { return l.rejected.Load() }

// Middleware admits each request through l before calling next. A request
// that is not admitted gets 503 with Retry-After and one log line; one whose
// client disconnects while queued just returns.
func (l *Limiter) Middleware(next http.Handler, log *slog.Logger, retryAfter time.Duration) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	if retryAfter <= 0 {
		retryAfter = DefaultRetryAfter
	}
	retrySeconds := strconv.Itoa(int(math.Ceil(retryAfter.Seconds())))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, err := l.Acquire(r.Context())
		switch {
		case err == nil:
			defer release()
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), releaseKey{}, release)))
		case errors.Is(err, ErrQueueFull) || errors.Is(err, ErrQueueTimeout):
			log.Warn("request rejected by admission control", "path", r.URL.Path, "method", r.Method,
				"reason", err.Error(), "status", http.StatusServiceUnavailable,
				"max_streams", l.maxActive, "queued", l.Queued(), "max_queue", l.maxQueue)
			w.Header().Set("Retry-After", retrySeconds)
			http.Error(w, http.StatusText(http.StatusServiceUnavailable)+": "+err.Error(), http.StatusServiceUnavailable)
		default:
			log.Debug("client went away while queued for admission", "path", r.URL.Path, "err", err.Error())
		}
	})
}

type releaseKey struct{}

// Release gives back the slot of the admitted request whose context is ctx
// before its handler returns, for a handler whose remaining work holds
// nothing a slot bounds (no plugin stream, no stream buffers). It does
// nothing for a request that holds no slot or already gave it back; the
// middleware's own release at the end is then a no-op.
func Release(ctx context.Context) {
	if release, ok := ctx.Value(releaseKey{}).(func()); ok {
		release()
	}
}
