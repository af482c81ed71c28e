// Package stats serves GET /debug/stats: the host's own process figures plus
// the plugin's, fetched from a PluginSource (the Python plugin's over
// streambench.v1.PluginStatsService: GRPCPlugin).
//
// GET /debug/stats?gc=1 first forces a garbage collection on both sides (Go:
// two runtime cycles and a scavenge; the plugin: gc.collect()), so the heap
// figures count what is still reachable, not garbage waiting for the next
// cycle. The bench's leak soak asks for it between rounds; plain polls never
// collect.
package stats

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/streambench/host/internal/gen/benchstatsv1"
	"github.com/streambench/host/internal/process"
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
	// GoVersion is the toolchain the binary was built with (runtime.Version),
	// so a run can record what it measured.
	GoVersion string `json:"go_version"`
	// HeapLiveBytes and HeapObjects are the heap the last GC cycle marked
	// live (runtime/metrics /gc/heap/live:bytes, /gc/heap/objects:objects):
	// after a forced GC, exactly what the program still holds.
	HeapLiveBytes uint64 `json:"heap_live_bytes"`
	HeapObjects   uint64 `json:"heap_objects"`
	// OpenFDs counts /proc/self/fd (-1 where it does not exist).
	OpenFDs int `json:"open_fds"`
	// CPUSeconds is the user + system CPU time the process has spent since it
	// started (getrusage), so CPU per byte can be read without psutil.
	CPUSeconds float64 `json:"cpu_seconds"`
	// GCForced is true when this reading followed a forced collection (?gc=1).
	GCForced bool `json:"gc_forced"`
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
	HandlersFailed    int64 `json:"handlers_failed"`
	PID               int32 `json:"pid"`
	MaxChunkBytes     int64 `json:"max_chunk_bytes"`
	AllocatedBlocks   int64 `json:"allocated_blocks"`
	// GCObjects is only present after a forced collection (?gc=1).
	GCObjects *int64 `json:"gc_objects,omitempty"`
	// CPUSeconds is the plugin process's user + system CPU time so far.
	CPUSeconds float64 `json:"cpu_seconds"`
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
	heap := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/objects:objects"}}
	metrics.Read(heap)
	return Host{
		RSSBytes:       process.ResidentBytes(),
		Goroutines:     runtime.NumGoroutine(),
		HeapInuseBytes: mem.HeapInuse,
		ActiveStreams:  streams.Active(),
		StreamsTotal:   streams.Total(),
		PID:            os.Getpid(),
		GoVersion:      runtime.Version(),
		HeapLiveBytes:  metricUint64(heap[0]),
		HeapObjects:    metricUint64(heap[1]),
		OpenFDs:        process.OpenFDs(),
		CPUSeconds:     process.CPUSeconds(),
	}
}

// CollectGarbage forces two full GC cycles, so that objects parked in
// sync.Pool caches (kept across one cycle as victims) are gone too, and hands
// freed pages back to the OS (debug.FreeOSMemory runs the second cycle), which
// also steadies RSS for the cross-check.
func CollectGarbage() {
	runtime.GC()
	debug.FreeOSMemory()
}

func metricUint64(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0 // not supported by this Go runtime
	}
	return s.Value.Uint64()
}

// DefaultPluginTimeout bounds the GetStats call so a stuck plugin cannot stall
// the bench's sampler.
const DefaultPluginTimeout = 500 * time.Millisecond

// GCPluginTimeout bounds GetStats with a forced collection, which walks the
// plugin's whole heap: longer than a plain poll on a busy machine.
const GCPluginTimeout = 10 * time.Second

// Handler serves the /debug/stats JSON.
type Handler struct {
	// Streams is the bridge's stream counter; nil reads as zero streams.
	Streams *Streams
	// Plugin asks the plugin for its figures; nil reports {"error": "no plugin client"}.
	Plugin PluginSource
	// Timeout bounds the plugin call; zero means DefaultPluginTimeout.
	Timeout time.Duration
	// Log receives bad-request lines; nil means slog.Default().
	Log *slog.Logger
	// Limits, if set, adds the budget and admission figures to `host`.
	Limits LimitsSource
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	streams := h.Streams
	if streams == nil {
		streams = &Streams{}
	}
	collect := false
	switch gc := r.URL.Query().Get("gc"); gc {
	case "", "0", "false":
	case "1", "true":
		collect = true
	default:
		logger := h.Log
		if logger == nil {
			logger = slog.Default()
		}
		logger.Warn("bad /debug/stats query", "path", r.URL.Path, "gc", gc, "want", "1 or 0")
		http.Error(w, "gc must be 1 or 0, not "+strconv.Quote(gc), http.StatusBadRequest)
		return
	}
	// The host collects and reads before it calls the plugin: the gRPC
	// transport borrows a pooled read buffer (256 KiB) while a reply is being
	// read, and would otherwise be counted live now and then. The live heap
	// figures are those of this collection, whatever the call allocates after.
	if collect {
		CollectGarbage()
	}
	host := ReadHost(streams)
	host.GCForced = collect
	plugin := h.readPlugin(r.Context(), collect)
	body := struct {
		Host   Host `json:"host"`
		Plugin any  `json:"plugin"`
	}{Host: host, Plugin: plugin}
	if h.Limits != nil {
		body.Host.Limits = h.Limits.Limits()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(body)
}

// PluginSource reads the `plugin` object of /debug/stats.
type PluginSource interface {
	ReadStats(ctx context.Context, collectGarbage bool) (any, error)
}

func (h *Handler) readPlugin(ctx context.Context, collect bool) any {
	if h.Plugin == nil {
		return pluginError{Error: "no plugin client"}
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultPluginTimeout
	}
	if collect {
		timeout = max(timeout, GCPluginTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	plugin, err := h.Plugin.ReadStats(ctx, collect)
	if err != nil {
		return pluginError{Error: err.Error()}
	}
	return plugin
}

// GRPCPlugin reads the Python plugin's figures over
// streambench.v1.PluginStatsService.
type GRPCPlugin struct {
	Client benchstatsv1.PluginStatsServiceClient
}

// ReadStats calls GetStats and answers a Plugin.
func (g GRPCPlugin) ReadStats(ctx context.Context, collect bool) (any, error) {
	st, err := g.Client.GetStats(ctx, &benchstatsv1.PluginStatsRequest{CollectGarbage: collect})
	if err != nil {
		return nil, err
	}
	var gcObjects *int64
	if st.GcObjects != nil {
		n := st.GetGcObjects()
		gcObjects = &n
	}
	return Plugin{
		RSSBytes:          st.GetRssBytes(),
		Threads:           st.GetThreads(),
		OpenFDs:           st.GetOpenFds(),
		ActiveHandlers:    st.GetActiveHandlers(),
		AsyncioTasks:      st.GetAsyncioTasks(),
		HandlersTotal:     st.GetHandlersTotal(),
		HandlersCancelled: st.GetHandlersCancelled(),
		HandlersFailed:    st.GetHandlersFailed(),
		PID:               st.GetPid(),
		MaxChunkBytes:     st.GetMaxChunkBytes(),
		AllocatedBlocks:   st.GetAllocatedBlocks(),
		GCObjects:         gcObjects,
		CPUSeconds:        st.GetCpuSeconds(),

		ResponseBudgetBytes: st.GetResponseBudgetBytes(),
		ResponseSendSlots:   st.GetResponseSendSlots(),
		ResponseSending:     st.GetResponseSending(),
		ResponseWaiting:     st.GetResponseWaiting(),
	}, nil
}
