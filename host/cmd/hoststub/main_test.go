package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestRequestChunkDefaultFollowsMessageLimit(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--plugin-addr", "unix:/x"}, 1 << 20},
		{[]string{"--plugin-addr", "unix:/x", "--max-message-bytes", "65536"}, 65536},
		{[]string{"--plugin-addr", "unix:/x", "--max-message-bytes", "65536", "--request-chunk-bytes", "4096"}, 4096},
	} {
		cfg, err := parseConfig(tc.args, env(nil), io.Discard)
		if err != nil || cfg.requestChunkBytes != tc.want {
			t.Errorf("%v: request chunk %d, err %v; want %d", tc.args, cfg.requestChunkBytes, err, tc.want)
		}
	}
}

func TestConfigFromFlagsAndEnv(t *testing.T) {
	cfg, err := parseConfig([]string{"--plugin-id", "flagged"}, env(map[string]string{
		"HOSTSTUB_PLUGIN_ADDR": "unix:/x.sock", "HOSTSTUB_PLUGIN_ID": "from-env",
		"HOSTSTUB_BUFFERED": "true", "HOSTSTUB_PLUGIN_TIMEOUT": "3s", "HOSTSTUB_REQUEST_CHUNK_BYTES": "1024",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.pluginAddr != "unix:/x.sock" || cfg.pluginID != "flagged" || !cfg.buffered ||
		cfg.pluginTimeout != 3*time.Second || cfg.requestChunkBytes != 1024 || cfg.listen != "127.0.0.1:8065" {
		t.Fatalf("%+v", cfg)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "--plugin-addr"},
		{[]string{"--plugin-addr", "unix:/x", "--request-chunk-bytes", "0"}, nil, "request-chunk-bytes"},
		{[]string{"--plugin-addr", "unix:/x"}, map[string]string{"HOSTSTUB_MAX_BODY_BYTES": "lots"}, "HOSTSTUB_MAX_BODY_BYTES"},
		{[]string{"--plugin-addr", "unix:/x", "--max-message-bytes", "10"}, nil, "max-message-bytes"},
		{[]string{"--plugin-addr", "unix:/x", "--max-message-bytes", "65536", "--request-chunk-bytes", "65537"}, nil, "max-message-bytes"},
	} {
		if _, err := parseConfig(tc.args, env(tc.env), io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: err %v, want mention of %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestHealthSubcommand(t *testing.T) {
	code := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }))
	defer srv.Close()
	if rc := run(context.Background(), []string{"health", "--url", srv.URL}, env(nil), io.Discard, nil); rc != 0 {
		t.Fatalf("rc %d for 200", rc)
	}
	code = http.StatusServiceUnavailable
	if rc := run(context.Background(), []string{"health", "--url", srv.URL}, env(nil), io.Discard, nil); rc != 1 {
		t.Fatalf("rc %d for 503", rc)
	}
	if rc := run(context.Background(), []string{"health", "--help"}, env(nil), io.Discard, nil); rc != 0 {
		t.Fatalf("rc %d for health --help, want 0 like hoststub --help", rc)
	}
	if rc := run(context.Background(), []string{"health", "--bogus"}, env(nil), io.Discard, nil); rc != 2 {
		t.Fatalf("rc %d for an unknown flag, want 2", rc)
	}
}

// slowPlugin answers "hello", then " world" after delay.
type slowPlugin struct {
	pb.UnimplementedPluginHooksServer
	delay time.Duration
}

func (p slowPlugin) ServeHTTP(s pb.PluginHooks_ServeHTTPServer) error {
	if _, err := s.Recv(); err != nil {
		return err
	}
	if err := s.Send(&pb.ServeHTTPResponse{Init: &pb.ServeHTTPResponseInit{StatusCode: 200}, BodyChunk: []byte("hello"), Flush: true}); err != nil {
		return err
	}
	select {
	case <-time.After(p.delay):
	case <-s.Context().Done():
		return s.Context().Err()
	}
	return s.Send(&pb.ServeHTTPResponse{BodyChunk: []byte(" world"), BodyComplete: true})
}

func startFakePlugin(t *testing.T, sock string, delay time.Duration) *grpc.Server {
	t.Helper()
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterPluginHooksServer(srv, slowPlugin{delay: delay})
	hs := health.NewServer()
	hs.SetServingStatus("plugin", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	return srv
}

// TestEndToEnd: 200 through the plugin, 503 fast when it is down, recovery
// when it is back (no host restart), and SIGTERM-style shutdown draining an
// in-flight stream.
func TestEndToEnd(t *testing.T) {
	dir, err := os.MkdirTemp("", "sbhost")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "p.sock")
	plugin := startFakePlugin(t, sock, 300*time.Millisecond)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ready := make(chan string, 1)
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"--listen", "127.0.0.1:0", "--plugin-addr", "unix:" + sock, "--shutdown-grace", "5s"},
			env(nil), io.Discard, ready)
	}()
	base := "http://" + <-ready
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	get := func(path string) (int, string) {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	waitStatus := func(path string, want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second) // a busy machine
		for {
			if code, _ := get(path); code == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never answered %d", path, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	waitStatus("/healthz", 200)
	if code, body := get("/plugins/bench/x"); code != 200 || body != "hello world" {
		t.Fatalf("%d %q", code, body)
	}

	plugin.Stop()
	waitStatus("/healthz", 503)
	start := time.Now()
	if code, _ := get("/plugins/bench/x"); code != 503 {
		t.Fatalf("plugin down: %d, want 503", code)
	}
	// A down plugin is answered at once, not after the 3 s default --plugin-timeout.
	if d := time.Since(start); d >= 3*time.Second {
		t.Fatalf("503 took %v: it waited for the plugin timeout", d)
	}
	// /metrics counted both streams; this fake plugin has no stats service,
	// which reads as plugin_up 0 in a scrape that still succeeds.
	code, metricsText := get("/metrics")
	for _, want := range []string{
		`streambench_host_streams_total{outcome="ok"} 1`,
		`streambench_host_streams_total{outcome="error"} 1`,
		`streambench_host_body_bytes_total{direction="to_client"} 11`,
		"streambench_plugin_up 0",
		"streambench_host_admission_rejected_total 0",
		"streambench_host_budget_in_use_bytes 0",
	} {
		if code != 200 || !strings.Contains(metricsText, want+"\n") {
			t.Errorf("/metrics (%d) lacks %q:\n%s", code, want, metricsText)
		}
	}

	_ = os.Remove(sock)
	plugin = startFakePlugin(t, sock, 300*time.Millisecond)
	defer plugin.Stop()
	waitStatus("/healthz", 200)

	// Shutdown while a stream is in flight: it must complete whole.
	resp, err := client.Get(base + "/plugins/bench/x")
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	stop()
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(first)+string(rest) != "hello world" {
		t.Fatalf("drained body %q%q err %v", first, rest, err)
	}
	select {
	case rc := <-exit:
		if rc != 0 {
			t.Fatalf("exit %d", rc)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after shutdown")
	}
}
