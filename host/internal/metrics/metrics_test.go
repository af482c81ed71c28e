package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/streambench/host/internal/bridge"
	"github.com/streambench/host/internal/gen/benchstatsv1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The bridge's Observer must be what Metrics offers.
var _ bridge.Observer = (*Metrics)(nil)

const MiB = 1 << 20

func TestStreamsMoveTheRightCounters(t *testing.T) {
	for _, tc := range []struct {
		name      string
		toClient  int
		toPlugin  int
		firstByte bool
		outcome   bridge.Outcome
		wantTTFB  uint64 // observations of time to first byte
	}{
		{"download", 1 * MiB, 0, true, bridge.OutcomeOK, 1},
		{"upload", 2, 3 * MiB, true, bridge.OutcomeOK, 1},
		{"error status before the plugin answered", 0, 0, false, bridge.OutcomeError, 0},
		{"aborted after response-init", 100, 0, true, bridge.OutcomeAborted, 1},
		{"client gone before any byte", 0, 10, false, bridge.OutcomeClientGone, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Options{})
			s := m.StreamStarted()
			if got := testutil.ToFloat64(m.activeStreams); got != 1 {
				t.Fatalf("active streams %v during the stream, want 1", got)
			}
			if tc.firstByte {
				s.ResponseStarted()
				s.ResponseStarted() // only the first counts
			}
			// Counted in pieces, as the bridge reports writes and reads.
			for sent := 0; sent < tc.toClient; sent += 64 << 10 {
				s.BodyBytesToClient(min(64<<10, tc.toClient-sent))
			}
			for sent := 0; sent < tc.toPlugin; sent += 64 << 10 {
				s.BodyBytesToPlugin(min(64<<10, tc.toPlugin-sent))
			}
			s.StreamEnded(tc.outcome)

			if got := testutil.ToFloat64(m.activeStreams); got != 0 {
				t.Errorf("active streams %v after the end, want 0", got)
			}
			for _, outcome := range bridge.Outcomes {
				want := 0.0
				if outcome == tc.outcome {
					want = 1
				}
				if got := testutil.ToFloat64(m.streams.WithLabelValues(string(outcome))); got != want {
					t.Errorf("streams_total{outcome=%q} = %v, want %v", outcome, got, want)
				}
			}
			if got := testutil.ToFloat64(m.bodyBytes.WithLabelValues(ToClient)); got != float64(tc.toClient) {
				t.Errorf("to_client bytes %v, want %d", got, tc.toClient)
			}
			if got := testutil.ToFloat64(m.bodyBytes.WithLabelValues(ToPlugin)); got != float64(tc.toPlugin) {
				t.Errorf("to_plugin bytes %v, want %d", got, tc.toPlugin)
			}
			if got := histogramCount(t, m, HostPrefix+"time_to_first_byte_seconds"); got != tc.wantTTFB {
				t.Errorf("time to first byte observed %d times, want %d", got, tc.wantTTFB)
			}
			if got := histogramCount(t, m, HostPrefix+"stream_duration_seconds"); got != 1 {
				t.Errorf("stream duration observed %d times, want 1", got)
			}
		})
	}
}

// histogramCount sums the sample counts of a histogram family over its labels.
func histogramCount(t *testing.T, m *Metrics, name string) uint64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		var total uint64
		for _, metric := range f.GetMetric() {
			total += metric.GetHistogram().GetSampleCount()
		}
		return total
	}
	t.Fatalf("no %s in the registry", name)
	return 0
}

// fakeStats answers GetStats with fixed figures, an error, or by blocking
// until the call's deadline.
type fakeStats struct {
	err   error
	block bool
}

func (f fakeStats) GetStats(ctx context.Context, _ *benchstatsv1.PluginStatsRequest, _ ...grpc.CallOption) (*benchstatsv1.PluginStats, error) {
	switch {
	case f.block:
		<-ctx.Done()
		return nil, ctx.Err()
	case f.err != nil:
		return nil, f.err
	}
	return &benchstatsv1.PluginStats{RssBytes: 50 * MiB, Threads: 7, OpenFds: 21, ActiveHandlers: 2,
		AsyncioTasks: 5, HandlersTotal: 1000, HandlersCancelled: 3, HandlersFailed: 4, Pid: 42}, nil
}

const pluginUp = `
# HELP streambench_plugin_active_handlers ServeHTTP handlers running now.
# TYPE streambench_plugin_active_handlers gauge
streambench_plugin_active_handlers 2
# HELP streambench_plugin_asyncio_tasks Tasks on the plugin's event loop.
# TYPE streambench_plugin_asyncio_tasks gauge
streambench_plugin_asyncio_tasks 5
# HELP streambench_plugin_handlers_cancelled_total Handlers ended by cancellation (client gone).
# TYPE streambench_plugin_handlers_cancelled_total counter
streambench_plugin_handlers_cancelled_total 3
# HELP streambench_plugin_handlers_failed_total Handlers ended by an exception.
# TYPE streambench_plugin_handlers_failed_total counter
streambench_plugin_handlers_failed_total 4
# HELP streambench_plugin_handlers_total ServeHTTP handlers started since the plugin started.
# TYPE streambench_plugin_handlers_total counter
streambench_plugin_handlers_total 1000
# HELP streambench_plugin_open_fds Open file descriptors of the plugin process.
# TYPE streambench_plugin_open_fds gauge
streambench_plugin_open_fds 21
# HELP streambench_plugin_resident_memory_bytes Resident set size of the plugin process.
# TYPE streambench_plugin_resident_memory_bytes gauge
streambench_plugin_resident_memory_bytes 5.24288e+07
# HELP streambench_plugin_threads OS threads of the plugin process.
# TYPE streambench_plugin_threads gauge
streambench_plugin_threads 7
# HELP streambench_plugin_up 1 when the plugin answered its stats call during this scrape, else 0.
# TYPE streambench_plugin_up gauge
streambench_plugin_up 1
`

const pluginDown = `
# HELP streambench_plugin_up 1 when the plugin answered its stats call during this scrape, else 0.
# TYPE streambench_plugin_up gauge
streambench_plugin_up 0
`

func TestPluginFiguresAtScrapeTime(t *testing.T) {
	for _, tc := range []struct {
		name   string
		plugin fakeStats
		want   string
	}{
		{"plugin answers", fakeStats{}, pluginUp},
		{"plugin down: only up 0", fakeStats{err: errors.New("connection refused")}, pluginDown},
		{"plugin stuck: up 0 after the timeout", fakeStats{block: true}, pluginDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newPluginCollector(tc.plugin, 20*time.Millisecond)
			if err := testutil.CollectAndCompare(c, strings.NewReader(tc.want)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body.String())
	}
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func TestHandlerServesEveryFamilyEvenWithThePluginDown(t *testing.T) {
	for _, tc := range []struct {
		name   string
		plugin fakeStats
		want   []string
		absent []string
	}{
		{"plugin up", fakeStats{}, []string{"streambench_plugin_up 1", "streambench_plugin_resident_memory_bytes 5.24288e+07"}, nil},
		{"plugin down", fakeStats{err: errors.New("down")}, []string{"streambench_plugin_up 0"},
			[]string{"streambench_plugin_resident_memory_bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Options{Plugin: tc.plugin})
			body := scrape(t, m.Handler())
			common := []string{
				"streambench_host_active_streams 0",
				`streambench_host_streams_total{outcome="ok"} 0`,
				`streambench_host_streams_total{outcome="client_gone"} 0`,
				`streambench_host_body_bytes_total{direction="to_client"} 0`,
				`streambench_host_body_bytes_total{direction="to_plugin"} 0`,
				"streambench_host_time_to_first_byte_seconds_bucket",
				"streambench_host_stream_duration_seconds_bucket",
				"go_goroutines ", "go_memstats_heap_inuse_bytes ", "process_resident_memory_bytes ",
			}
			for _, want := range append(common, tc.want...) {
				if !strings.Contains(body, want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
			for _, absent := range tc.absent {
				if strings.Contains(body, absent) {
					t.Errorf("/metrics has %q", absent)
				}
			}
		})
	}
}

func TestAddGaugeFuncJoinsTheScrape(t *testing.T) {
	m := New(Options{})
	queued := 3.0
	if err := m.AddGaugeFunc("admission_queue_length", "Requests waiting for admission.", func() float64 { return queued }); err != nil {
		t.Fatal(err)
	}
	if body := scrape(t, m.Handler()); !strings.Contains(body, "streambench_host_admission_queue_length 3\n") {
		t.Fatalf("gauge missing:\n%s", body)
	}
	queued = 0
	if body := scrape(t, m.Handler()); !strings.Contains(body, "streambench_host_admission_queue_length 0\n") {
		t.Fatal("gauge not read at scrape time")
	}
	if err := m.AddGaugeFunc("admission_queue_length", "again", func() float64 { return 0 }); err == nil {
		t.Fatal("a second gauge of the same name was accepted")
	}
}

// The cost the bridge pays: per body chunk, and per stream (start, first
// byte, end). Compare with the time a 64 KiB chunk takes at 1 GB/s: 65 µs.
func BenchmarkBodyBytesPerChunk(b *testing.B) {
	s := New(Options{}).StreamStarted()
	for b.Loop() {
		s.BodyBytesToClient(64 << 10)
	}
}

func BenchmarkStreamLifecycle(b *testing.B) {
	m := New(Options{})
	for b.Loop() {
		s := m.StreamStarted()
		s.ResponseStarted()
		s.StreamEnded(bridge.OutcomeOK)
	}
}

// BenchmarkScrape is one GET /metrics with the plugin answering at once.
func BenchmarkScrape(b *testing.B) {
	h := New(Options{Plugin: fakeStats{}}).Handler()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
