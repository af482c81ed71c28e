// Package metrics serves GET /metrics in the Prometheus text format: the
// bridge's streams (active, by outcome, body bytes each way, time to first
// byte, duration), the plugin's figures asked over
// streambench.v1.PluginStatsService at scrape time, and the Go runtime and
// process collectors. /debug/stats (package stats) stays the bench's JSON.
//
// Names follow the Prometheus conventions: prefix streambench_host_ or
// streambench_plugin_, base units (_bytes, _seconds), counters end in _total.
package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streambench/host/internal/bridge"
	"github.com/streambench/host/internal/gen/benchstatsv1"
)

// Name prefixes of the host's and the plugin's series.
const (
	HostPrefix   = "streambench_host_"
	PluginPrefix = "streambench_plugin_"
)

// Direction label values of streambench_host_body_bytes_total.
const (
	ToClient = "to_client" // response body, plugin -> client
	ToPlugin = "to_plugin" // request body, client -> plugin
)

// Buckets, in seconds. Time to first byte spans a local plugin's sub-millisecond
// answer to a slow handler's seconds; a stream lasts from one small request to a
// multi-GiB transfer or a long event stream.
var (
	TimeToFirstByteBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	StreamDurationBuckets  = []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 1800}
)

// Options configure New.
type Options struct {
	// Plugin is asked for the plugin's figures at every scrape; nil leaves the
	// streambench_plugin_ series out.
	Plugin benchstatsv1.PluginStatsServiceClient
	// PluginTimeout bounds that call; zero means DefaultPluginTimeout. A plugin
	// that does not answer in time reads streambench_plugin_up 0, and the
	// scrape still succeeds.
	PluginTimeout time.Duration
	// Log receives scrape errors; nil means slog.Default().
	Log *slog.Logger
}

// Metrics is the host's registry. It is the bridge's Observer (see
// StreamStarted) and serves /metrics (see Handler).
type Metrics struct {
	registry        *prometheus.Registry
	log             *slog.Logger
	activeStreams   prometheus.Gauge
	streams         *prometheus.CounterVec
	bodyBytes       *prometheus.CounterVec
	timeToFirstByte prometheus.Histogram
	streamDuration  *prometheus.HistogramVec

	// Children per outcome, resolved once: no label lookup per stream.
	endedBy    map[bridge.Outcome]prometheus.Counter
	durationBy map[bridge.Outcome]prometheus.Observer
}

// New builds the registry with the host's series, the Go runtime and
// process collectors and, when opts.Plugin is set, the plugin's figures.
func New(opts Options) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		log:      opts.Log,
		activeStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: HostPrefix + "active_streams",
			Help: "ServeHTTP streams in flight now.",
		}),
		streams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: HostPrefix + "streams_total",
			Help: "ServeHTTP streams ended, by outcome: ok, error (error status before the plugin's response), " +
				"aborted (cut after response-init), client_gone.",
		}, []string{"outcome"}),
		bodyBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: HostPrefix + "body_bytes_total",
			Help: "Body bytes forwarded, by direction: to_client (response) or to_plugin (request).",
		}, []string{"direction"}),
		timeToFirstByte: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    HostPrefix + "time_to_first_byte_seconds",
			Help:    "From the start of a stream to the plugin's status line or first body byte reaching the client.",
			Buckets: TimeToFirstByteBuckets,
		}),
		streamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    HostPrefix + "stream_duration_seconds",
			Help:    "From the start of a stream to its end, by outcome.",
			Buckets: StreamDurationBuckets,
		}, []string{"outcome"}),
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	// Every label value exists from the start, so rate() and absent() see a 0
	// instead of no series until the first stream of that kind.
	m.endedBy = make(map[bridge.Outcome]prometheus.Counter, len(bridge.Outcomes))
	m.durationBy = make(map[bridge.Outcome]prometheus.Observer, len(bridge.Outcomes))
	for _, outcome := range bridge.Outcomes {
		m.endedBy[outcome] = m.streams.WithLabelValues(string(outcome))
		m.durationBy[outcome] = m.streamDuration.WithLabelValues(string(outcome))
	}
	m.bodyBytes.WithLabelValues(ToClient)
	m.bodyBytes.WithLabelValues(ToPlugin)

	m.registry.MustRegister(
		m.activeStreams, m.streams, m.bodyBytes, m.timeToFirstByte, m.streamDuration,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if opts.Plugin != nil {
		m.registry.MustRegister(newPluginCollector(opts.Plugin, opts.PluginTimeout))
	}
	return m
}

// Handler serves the registry in the Prometheus text format (or what the
// scraper negotiates). A collector that fails leaves its series out and
// is logged; the scrape itself still answers 200.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
	})
}

// AddGaugeFunc adds streambench_host_<name>, read from value at every
// scrape: the way figures owned by other packages (an admission queue, a
// memory budget) join /metrics without this package knowing them. value
// must be safe to call from any goroutine.
func (m *Metrics) AddGaugeFunc(name, help string, value func() float64) error {
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: HostPrefix + name, Help: help}, value)
	if err := m.registry.Register(gauge); err != nil {
		return fmt.Errorf("metrics: adding %s%s: %w", HostPrefix, name, err)
	}
	return nil
}

// AddCounterFunc registers streambench_host_<name> (which must end in
// _total), a counter read from value at every scrape.
func (m *Metrics) AddCounterFunc(name, help string, value func() float64) error {
	counter := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: HostPrefix + name, Help: help}, value)
	if err := m.registry.Register(counter); err != nil {
		return fmt.Errorf("metrics: adding %s%s: %w", HostPrefix, name, err)
	}
	return nil
}

// Registry is the underlying registry (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }
