package router

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/streambench/host/internal/files"
	"github.com/streambench/host/internal/gen/benchstatsv1"
	"github.com/streambench/host/internal/stats"
)

func do(t *testing.T, h http.Handler, method, target string, body io.Reader, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestPluginRouteStripsPrefix: the plugin handler sees the path after
// /plugins/{id} and the client's request otherwise as it came; dropping a
// client's Mattermost-User-Id is the bridge's (TestRoutedRequestDropsClientUserID
// in the bridge package proves the two together).
func TestPluginRouteStripsPrefix(t *testing.T) {
	var seen *http.Request
	h := New(Routes{PluginID: "bench", Plugin: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r })})
	do(t, h, "GET", "/plugins/bench/download/a%2Fb?size=3&x=y", nil, "X-Keep", "1")
	if seen == nil {
		t.Fatal("plugin handler not called")
	}
	if seen.URL.Path != "/download/a/b" || seen.URL.RequestURI() != "/download/a%2Fb?size=3&x=y" {
		t.Fatalf("path %q uri %q", seen.URL.Path, seen.URL.RequestURI())
	}
	if seen.RequestURI != "/plugins/bench/download/a%2Fb?size=3&x=y" {
		t.Fatalf("RequestURI %q", seen.RequestURI)
	}
	if seen.Header.Get("X-Keep") != "1" {
		t.Fatalf("headers %v", seen.Header)
	}
}

func TestPluginRoot(t *testing.T) {
	var path string
	h := New(Routes{PluginID: "bench", Plugin: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { path = r.URL.Path })})
	do(t, h, "GET", "/plugins/bench/", nil)
	if path != "/" {
		t.Fatalf("path %q", path)
	}
}

func TestUnknownPluginAndRoutes(t *testing.T) {
	h := New(Routes{PluginID: "bench", Plugin: http.NotFoundHandler()})
	if rec := do(t, h, "GET", "/plugins/other/x", nil); rec.Code != 404 || !strings.Contains(rec.Body.String(), "unknown plugin other") {
		t.Fatalf("%d %q", rec.Code, rec.Body.String())
	}
	if rec := do(t, h, "GET", "/nothing", nil); rec.Code != 404 {
		t.Fatalf("%d", rec.Code)
	}
}

func TestHealthz(t *testing.T) {
	ready := false
	h := New(Routes{PluginID: "bench", Healthy: func() bool { return ready }, HealthDetail: func() string { return "NOT_SERVING" }})
	if rec := do(t, h, "GET", "/healthz", nil); rec.Code != 503 || !strings.Contains(rec.Body.String(), "NOT_SERVING") {
		t.Fatalf("%d %q", rec.Code, rec.Body.String())
	}
	ready = true
	if rec := do(t, h, "GET", "/healthz", nil); rec.Code != 200 {
		t.Fatalf("%d", rec.Code)
	}
}

func TestDirectDownload(t *testing.T) {
	h := New(Routes{PluginID: "bench"})
	rec := do(t, h, "GET", "/direct/download?size=1000&chunk=7", nil)
	body := rec.Body.Bytes()
	if rec.Code != 200 || len(body) != 1000 || rec.Header().Get("Content-Length") != "1000" {
		t.Fatalf("%d len %d", rec.Code, len(body))
	}
	for i, c := range body {
		if c != byte(i%256) {
			t.Fatalf("byte %d = %d", i, c)
		}
	}
	for _, bad := range []string{"", "?size=-1", "?size=abc", "?size=10&chunk=0", "?size=10&chunk=99999999999", "?size=1.5"} {
		rec := do(t, h, "GET", "/direct/download"+bad, nil)
		if rec.Code != 400 || rec.Body.Len() == 0 {
			t.Errorf("%q: %d %q", bad, rec.Code, rec.Body.String())
		}
	}
}

func TestDirectUpload(t *testing.T) {
	h := New(Routes{PluginID: "bench"})
	payload := strings.Repeat("streambench", 10000)
	rec := do(t, h, "POST", "/direct/upload", strings.NewReader(payload))
	var got struct {
		Bytes  int64  `json:"bytes"`
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err, rec.Body.String())
	}
	sum := sha256.Sum256([]byte(payload))
	if got.Bytes != int64(len(payload)) || got.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("%+v", got)
	}
	if rec := do(t, h, "GET", "/direct/upload", nil); rec.Code != 405 {
		t.Fatalf("GET upload: %d", rec.Code)
	}
}

type fakeStats struct {
	err error
}

func (f fakeStats) GetStats(context.Context, *benchstatsv1.PluginStatsRequest, ...grpc.CallOption) (*benchstatsv1.PluginStats, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &benchstatsv1.PluginStats{RssBytes: 1 << 30, Threads: 3, OpenFds: 9, ActiveHandlers: 1, AsyncioTasks: 4,
		HandlersTotal: 1 << 40, HandlersCancelled: 2, HandlersFailed: 5, Pid: 42, MaxChunkBytes: 65536}, nil
}

func TestDebugStatsShape(t *testing.T) {
	streams := &stats.Streams{}
	streams.Start()
	for _, tc := range []struct {
		name   string
		plugin fakeStats
		keys   []string
	}{
		{"plugin up", fakeStats{}, []string{"rss_bytes", "threads", "open_fds", "active_handlers", "asyncio_tasks",
			"handlers_total", "handlers_cancelled", "handlers_failed", "pid", "max_chunk_bytes", "allocated_blocks",
			"response_budget_bytes", "response_send_slots", "response_sending", "response_waiting", "cpu_seconds"}},
		{"plugin down", fakeStats{err: errors.New("connection refused")}, []string{"error"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := New(Routes{PluginID: "bench", Stats: &stats.Handler{Streams: streams, Plugin: stats.GRPCPlugin{Client: tc.plugin}}})
			rec := do(t, h, "GET", "/debug/stats", nil)
			var got map[string]map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err, rec.Body.String())
			}
			hostKeys := []string{"rss_bytes", "goroutines", "heap_inuse_bytes", "active_streams", "streams_total", "pid",
				"heap_live_bytes", "heap_objects", "open_fds", "cpu_seconds",
				"budget_bytes", "budget_in_use_bytes", "max_streams", "admission_active", "admission_queued",
				"admission_max_queue", "admission_rejected_total"}
			if got["host"]["gc_forced"] != false {
				t.Errorf("host.gc_forced = %v on a plain poll", got["host"]["gc_forced"])
			}
			if len(got["host"]) != len(hostKeys)+2 || // + gc_forced, go_version
				len(got["plugin"]) != len(tc.keys) {
				t.Fatalf("keys: %v", got)
			}
			for _, k := range hostKeys {
				if _, ok := got["host"][k].(float64); !ok {
					t.Errorf("host.%s = %v", k, got["host"][k])
				}
			}
			for _, k := range tc.keys {
				if _, ok := got["plugin"][k]; !ok {
					t.Errorf("plugin.%s missing", k)
				}
			}
			if v, _ := got["host"]["go_version"].(string); !strings.HasPrefix(v, "go") {
				t.Errorf("host.go_version = %v", got["host"]["go_version"])
			}
			if got["host"]["active_streams"] != 1.0 || got["host"]["rss_bytes"].(float64) <= 0 {
				t.Errorf("host %v", got["host"])
			}
			if tc.plugin.err == nil && got["plugin"]["handlers_total"] != float64(1<<40) {
				t.Errorf("plugin %v", got["plugin"])
			}
		})
	}
}

func TestMetricsRouteOnlyWhenGiven(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("up 1\n")) })
	if rec := do(t, New(Routes{PluginID: "bench", Metrics: metrics}), "GET", "/metrics", nil); rec.Code != 200 || rec.Body.String() != "up 1\n" {
		t.Fatalf("with Metrics: %d %q", rec.Code, rec.Body.String())
	}
	if rec := do(t, New(Routes{PluginID: "bench"}), "GET", "/metrics", nil); rec.Code != 404 {
		t.Fatalf("without Metrics: %d, want 404", rec.Code)
	}
}

func TestDirectFile(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for _, err := range []error{
		os.Mkdir(root, 0o755),
		os.Mkdir(filepath.Join(root, "sub"), 0o755),
		os.WriteFile(filepath.Join(root, "a.txt"), []byte("hello files"), 0o644),
		os.WriteFile(filepath.Join(dir, "secret"), []byte("secret"), 0o644),
		os.Symlink("../secret", filepath.Join(root, "out")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	fileRoot, err := files.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer fileRoot.Close()
	if rec := do(t, New(Routes{PluginID: "bench"}), "GET", "/direct/file?path=a.txt", nil); rec.Code != 404 {
		t.Fatalf("without a files root: %d, want 404", rec.Code)
	}
	h := New(Routes{PluginID: "bench", Files: fileRoot})
	for _, tc := range []struct {
		target, rangeHeader string
		status              int
		body                string
	}{
		{"/direct/file?path=a.txt", "", 200, "hello files"},
		{"/direct/file?path=a.txt", "bytes=6-", 206, "files"},
		{"/direct/file?path=missing", "", 404, ""},
		{"/direct/file?path=sub", "", 404, ""},
		{"/direct/file", "", 403, ""},
		{"/direct/file?path=../secret", "", 403, ""},
		{"/direct/file?path=%2Fetc%2Fpasswd", "", 403, ""},
		{"/direct/file?path=out", "", 403, ""},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.target, nil)
		if tc.rangeHeader != "" {
			req.Header.Set("Range", tc.rangeHeader)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status || (tc.body != "" && rec.Body.String() != tc.body) || strings.Contains(rec.Body.String(), "secret") {
			t.Errorf("%s %s: %d %q, want %d %q", tc.target, tc.rangeHeader, rec.Code, rec.Body.String(), tc.status, tc.body)
		}
	}
}

func TestGRPCFloorRouteOnlyWhenGiven(t *testing.T) {
	floor := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.URL.RequestURI()) })
	if rec := do(t, New(Routes{PluginID: "bench"}), "GET", "/grpc-floor/download?size=3", nil); rec.Code != 404 {
		t.Fatalf("without Floor: %d, want 404", rec.Code)
	}
	rec := do(t, New(Routes{PluginID: "bench", Floor: floor}), "GET", "/grpc-floor/download?size=3", nil)
	if rec.Code != 200 || rec.Body.String() != "/download?size=3" {
		t.Fatalf("floor saw %d %q, want the plugin path", rec.Code, rec.Body.String())
	}
}
