package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/streambench/host/internal/admission"
	"github.com/streambench/host/internal/bridge"
	"github.com/streambench/host/internal/metrics"
	"github.com/streambench/host/internal/stats"
)

// DefaultBudgetBytes is the host's memory budget for body bytes in flight:
// with the 2 MiB window and 1 MiB messages, 12 downloads or 6 uploads at full
// speed (enough for both cores). Through the stream limit it also bounds the
// plugin, which holds ~8-10 MiB per upload at 1 MiB messages: host and plugin
// both stay inside 128 MiB containers at any number of clients
// (docs/decisions.md).
const DefaultBudgetBytes = 36 << 20

// gcHeadroomBytes is added to the budget for Go's soft memory limit when
// GOMEMLIMIT is not set: the GC collects before the heap grows far past the
// budget instead of letting it reach twice the live data.
const gcHeadroomBytes = 32 << 20

// DefaultMaxQueue is how many requests may wait for a stream slot. A queued
// request costs a goroutine and its connection's buffers (~10 KiB), not a
// plugin stream.
const DefaultMaxQueue = 1024

// limits are the flags of the memory budget and admission control.
type limits struct {
	budgetBytes  int64
	maxStreams   int
	maxQueue     int
	queueTimeout time.Duration
	retryAfter   time.Duration
}

func (l *limits) register(fs *flag.FlagSet) {
	fs.Int64Var(&l.budgetBytes, "budget-bytes", DefaultBudgetBytes, "memory budget for body bytes in flight, all streams together (streams wait for their share)")
	fs.IntVar(&l.maxStreams, "max-streams", 0, "concurrent plugin streams, 0 = as many as the budget holds (budget / per-stream share)")
	fs.IntVar(&l.maxQueue, "max-queue", DefaultMaxQueue, "requests waiting for a stream slot; beyond it: 503 with Retry-After")
	fs.DurationVar(&l.queueTimeout, "queue-timeout", admission.DefaultQueueTimeout, "longest wait for a stream slot; beyond it: 503 with Retry-After")
	fs.DurationVar(&l.retryAfter, "retry-after", admission.DefaultRetryAfter, "Retry-After sent with an admission 503")
}

func (l *limits) validate() error {
	switch {
	case l.budgetBytes < 1<<20:
		return fmt.Errorf("--budget-bytes must be >= 1 MiB (got %d)", l.budgetBytes)
	case l.maxStreams < 0:
		return fmt.Errorf("--max-streams must be >= 0 (got %d)", l.maxStreams)
	case l.maxQueue < 0:
		return fmt.Errorf("--max-queue must be >= 0 (got %d)", l.maxQueue)
	case l.queueTimeout <= 0:
		return fmt.Errorf("--queue-timeout must be > 0 (got %s)", l.queueTimeout)
	case l.retryAfter < time.Second:
		return fmt.Errorf("--retry-after must be >= 1s (got %s)", l.retryAfter)
	}
	return nil
}

// newBudget is the memory budget for the bridge's Budget field. Unless
// GOMEMLIMIT is set, Go's soft memory limit follows it.
func (l *limits) newBudget() *bridge.Budget {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(l.budgetBytes + gcHeadroomBytes)
	}
	return bridge.NewBudget(l.budgetBytes)
}

// reservedWindowBytes is the bridge's WindowBytes for --window-bytes: the
// window each stream's budget share counts.
func reservedWindowBytes(windowBytes int) int64 {
	if windowBytes < 0 {
		return 16 << 20 // grpc-go's BDP estimation grows the window up to 16 MiB
	}
	return int64(windowBytes)
}

// gate is admission control in front of the bridge, with a stream limit
// sized to the bridge's budget; it also reports the budget and admission
// figures for /debug/stats and /metrics.
type gate struct {
	limits    limits
	log       *slog.Logger
	budget    *bridge.Budget
	admission *admission.Limiter
}

// newGate sizes admission control for b (configured, budget included): the
// stream limit is --max-streams, or as many of b's per-stream shares as the
// budget holds.
func (l *limits) newGate(b *bridge.Bridge, log *slog.Logger) *gate {
	streams := l.maxStreams
	if streams == 0 {
		streams = int(max(1, b.Budget.Bytes()/b.PerStreamBytes()))
	}
	log.Info("memory budget and admission control", "budget_bytes", b.Budget.Bytes(),
		"per_stream_bytes", b.PerStreamBytes(), "max_streams", streams,
		"max_queue", l.maxQueue, "queue_timeout", l.queueTimeout)
	return &gate{
		limits:    *l,
		log:       log,
		budget:    b.Budget,
		admission: admission.New(streams, l.maxQueue, l.queueTimeout),
	}
}

// admit puts admission control in front of h.
func (g *gate) admit(h http.Handler) http.Handler {
	return g.admission.Middleware(h, g.log, g.limits.retryAfter)
}

// Limits implements stats.LimitsSource.
func (g *gate) Limits() stats.Limits {
	return stats.Limits{
		BudgetBytes:            g.budget.Bytes(),
		BudgetInUseBytes:       g.budget.InUse(),
		MaxStreams:             g.admission.MaxActive(),
		AdmissionActive:        g.admission.Active(),
		AdmissionQueued:        g.admission.Queued(),
		AdmissionMaxQueue:      g.admission.MaxQueue(),
		AdmissionRejectedTotal: g.admission.RejectedTotal(),
	}
}

// registerMetrics exposes the budget and admission figures on /metrics, read
// at every scrape.
func (g *gate) registerMetrics(m *metrics.Metrics) error {
	gauges := []struct {
		name, help string
		value      func() int64
	}{
		{"budget_bytes", "Memory budget for body bytes in flight (--budget-bytes).", g.budget.Bytes},
		{"budget_in_use_bytes", "Body bytes reserved by open streams now.", g.budget.InUse},
		{"admission_max_streams", "Streams admitted to the plugin at once (--max-streams).", g.admission.MaxActive},
		{"admission_active_streams", "Streams admitted now.", g.admission.Active},
		{"admission_queued_requests", "Requests waiting for admission now.", g.admission.Queued},
	}
	for _, gauge := range gauges {
		value := gauge.value
		if err := m.AddGaugeFunc(gauge.name, gauge.help, func() float64 { return float64(value()) }); err != nil {
			return err
		}
	}
	return m.AddCounterFunc("admission_rejected_total",
		"Requests answered 503 because the admission queue was full or timed out.",
		func() float64 { return float64(g.admission.RejectedTotal()) })
}
