// Package stats serves GET /debug/stats: the host's own process figures plus
// the plugin's, fetched over streambench.v1.PluginStatsService.
package stats

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/streambench/host/internal/gen/benchstatsv1"
)

// Streams counts bridged ServeHTTP streams. The zero value is ready to use.
type Streams struct {
	active atomic.Int64
	total  atomic.Int64
}

// Start records a stream that began; pair it with End.
func (s *Streams) Start() {
	s.active.Add(1)
	s.total.Add(1)
}

// End records a stream that finished, whatever its outcome.
func (s *Streams) End() { s.active.Add(-1) }

// Active is the number of streams in flight now.
func (s *Streams) Active() int64 { return s.active.Load() }

// Total is the number of streams started since process start.
func (s *Streams) Total() int64 { return s.total.Load() }

// Host is the `host` object of /debug/stats.
type Host struct {
	RSSBytes       int64  `json:"rss_bytes"`
	Goroutines     int    `json:"goroutines"`
	HeapInuseBytes uint64 `json:"heap_inuse_bytes"`
	ActiveStreams  int64  `json:"active_streams"`
	StreamsTotal   int64  `json:"streams_total"`
	PID            int    `json:"pid"`
	Limits
}

// Limits are the memory budget and admission figures (zero when not set up).
type Limits struct {
	BudgetBytes            int64 `json:"budget_bytes"`
	BudgetInUseBytes       int64 `json:"budget_in_use_bytes"`
	MaxStreams             int64 `json:"max_streams"`
	AdmissionActive        int64 `json:"admission_active"`
	AdmissionQueued        int64 `json:"admission_queued"`
	AdmissionMaxQueue      int64 `json:"admission_max_queue"`
	AdmissionRejectedTotal int64 `json:"admission_rejected_total"`
}

// LimitsSource reports the current Limits.
type LimitsSource interface {
	Limits() Limits
}

// Plugin is the `plugin` object of /debug/stats (snake_case like the proto
// field names; int64 as JSON numbers, which protojson would not give).
type Plugin struct {
	RSSBytes          int64 `json:"rss_bytes"`
	Threads           int32 `json:"threads"`
	OpenFDs           int32 `json:"open_fds"`
	ActiveHandlers    int32 `json:"active_handlers"`
	AsyncioTasks      int32 `json:"asyncio_tasks"`
	HandlersTotal     int64 `json:"handlers_total"`
	HandlersCancelled int64 `json:"handlers_cancelled"`
	PID               int32 `json:"pid"`
	MaxChunkBytes     int64 `json:"max_chunk_bytes"`
	// The response budget: bytes, send slots, slots in use, responses waiting.
	ResponseBudgetBytes int64 `json:"response_budget_bytes"`
	ResponseSendSlots   int32 `json:"response_send_slots"`
	ResponseSending     int32 `json:"response_sending"`
	ResponseWaiting     int32 `json:"response_waiting"`
}

// pluginError is the `plugin` object when the plugin cannot be asked.
type pluginError struct {
	Error string `json:"error"`
}

// ReadHost samples the host process. It calls runtime.ReadMemStats, which
// stops the world for a few microseconds: fine at the bench's 10-20 Hz
// sampling, not something to call per request.
func ReadHost(streams *Streams) Host {
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	return Host{
		RSSBytes:       residentBytes(),
		Goroutines:     runtime.NumGoroutine(),
		HeapInuseBytes: mem.HeapInuse,
		ActiveStreams:  streams.Active(),
		StreamsTotal:   streams.Total(),
		PID:            os.Getpid(),
	}
}

// residentBytes reads the resident set size from /proc/self/statm (Linux);
// -1 where that file does not exist.
func residentBytes() int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	fields := strings.Fields(string(raw))
	if len(fields) < 2 {
		return -1
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return -1
	}
	return pages * int64(os.Getpagesize())
}

// DefaultPluginTimeout bounds the GetStats call so a stuck plugin cannot stall
// the bench's sampler.
const DefaultPluginTimeout = 500 * time.Millisecond

// Handler serves the /debug/stats JSON.
type Handler struct {
	// Streams is the bridge's stream counter; nil reads as zero streams.
	Streams *Streams
	// Plugin asks the plugin for its figures; nil reports {"error": "no plugin client"}.
	Plugin benchstatsv1.PluginStatsServiceClient
	// Timeout bounds the plugin call; zero means DefaultPluginTimeout.
	Timeout time.Duration
	// Limits, if set, adds the budget and admission figures to `host`.
	Limits LimitsSource
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	streams := h.Streams
	if streams == nil {
		streams = &Streams{}
	}
	body := struct {
		Host   Host `json:"host"`
		Plugin any  `json:"plugin"`
	}{Host: ReadHost(streams), Plugin: h.readPlugin(r.Context())}
	if h.Limits != nil {
		body.Host.Limits = h.Limits.Limits()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(body)
}

func (h *Handler) readPlugin(ctx context.Context) any {
	if h.Plugin == nil {
		return pluginError{Error: "no plugin client"}
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultPluginTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := h.Plugin.GetStats(ctx, &benchstatsv1.PluginStatsRequest{})
	if err != nil {
		return pluginError{Error: err.Error()}
	}
	return Plugin{
		RSSBytes:          st.GetRssBytes(),
		Threads:           st.GetThreads(),
		OpenFDs:           st.GetOpenFds(),
		ActiveHandlers:    st.GetActiveHandlers(),
		AsyncioTasks:      st.GetAsyncioTasks(),
		HandlersTotal:     st.GetHandlersTotal(),
		HandlersCancelled: st.GetHandlersCancelled(),
		PID:               st.GetPid(),
		MaxChunkBytes:     st.GetMaxChunkBytes(),

		ResponseBudgetBytes: st.GetResponseBudgetBytes(),
		ResponseSendSlots:   st.GetResponseSendSlots(),
		ResponseSending:     st.GetResponseSending(),
		ResponseWaiting:     st.GetResponseWaiting(),
	}
}
