package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streambench/host/internal/bridge"
	"github.com/streambench/host/internal/testlog"

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
		{[]string{"--plugin-addr", "unix:/x", "--idle-timeout", "-1s"}, nil, "idle-timeout"},
		{[]string{"--plugin-addr", "unix:/x"}, map[string]string{"HOSTSTUB_READ_PROGRESS_TIMEOUT": "-1s"}, "read-progress-timeout"},
		{[]string{"--plugin-addr", "unix:/x", "--write-piece-bytes", "0"}, nil, "write-piece-bytes"},
	} {
		if _, err := parseConfig(tc.args, env(tc.env), io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: err %v, want mention of %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestProgressAndIdleTimeouts(t *testing.T) {
	cfg, err := parseConfig([]string{"--plugin-addr", "unix:/x"}, env(nil), io.Discard)
	if err != nil || cfg.readProgress != 30*time.Second || cfg.writeProgress != 30*time.Second ||
		cfg.idleTimeout != 60*time.Second || cfg.readHeaderTimeout != 10*time.Second ||
		cfg.writePieceBytes != bridge.DefaultWritePieceBytes {
		t.Fatalf("defaults: %+v, err %v", cfg, err)
	}
	cfg, err = parseConfig([]string{"--plugin-addr", "unix:/x", "--write-progress-timeout", "0"}, env(map[string]string{
		"HOSTSTUB_READ_PROGRESS_TIMEOUT": "1s", "HOSTSTUB_WRITE_PROGRESS_TIMEOUT": "2s", "HOSTSTUB_IDLE_TIMEOUT": "3s",
		"HOSTSTUB_WRITE_PIECE_BYTES": "65536",
	}), io.Discard)
	if err != nil || cfg.readProgress != time.Second || cfg.writeProgress != 0 || cfg.idleTimeout != 3*time.Second ||
		cfg.writePieceBytes != 64<<10 {
		t.Fatalf("flags and env: %+v, err %v", cfg, err)
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

// heldPlugin answers "hello", then " world": at once, or for the path
// /hold once release is closed; /sendfile/NAME it answers with X-Sendfile.
type heldPlugin struct {
	pb.UnimplementedPluginHooksServer
	release <-chan struct{}
}

func (p heldPlugin) ServeHTTP(s pb.PluginHooks_ServeHTTPServer) error {
	m, err := s.Recv()
	if err != nil {
		return err
	}
	if name, ok := strings.CutPrefix(m.GetInit().GetUrl(), "/sendfile/"); ok {
		return s.Send(&pb.ServeHTTPResponse{Init: &pb.ServeHTTPResponseInit{StatusCode: 200, Headers: []*pb.HTTPHeader{
			{Key: "X-Sendfile", Values: []string{name}}, {Key: "Content-Type", Values: []string{"text/x-test"}},
		}}, BodyComplete: true})
	}
	if err := s.Send(&pb.ServeHTTPResponse{Init: &pb.ServeHTTPResponseInit{StatusCode: 200}, BodyChunk: []byte("hello"), Flush: true}); err != nil {
		return err
	}
	if m.GetInit().GetUrl() == "/hold" {
		select {
		case <-p.release:
		case <-s.Context().Done():
			return s.Context().Err()
		}
	}
	return s.Send(&pb.ServeHTTPResponse{BodyChunk: []byte(" world"), BodyComplete: true})
}

func startFakePlugin(t *testing.T, sock string, release <-chan struct{}) *grpc.Server {
	t.Helper()
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterPluginHooksServer(srv, heldPlugin{release: release})
	hs := health.NewServer()
	hs.SetServingStatus("plugin", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	return srv
}

// within polls cond until it holds or a deadline generous enough for a
// loaded machine passes.
func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEndToEnd: 200 through the plugin, 503 without a stream when it is
// down, recovery when it is back (no host restart), idle keep-alive
// connections closed after --idle-timeout, and SIGTERM-style shutdown
// draining an in-flight stream.
func TestEndToEnd(t *testing.T) {
	dir, err := os.MkdirTemp("", "sbhost")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "p.sock")
	release := make(chan struct{})
	plugin := startFakePlugin(t, sock, release)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ready := make(chan string, 1)
	exit := make(chan int, 1)
	logs := &testlog.Buffer{}
	go func() {
		exit <- run(ctx, []string{"--listen", "127.0.0.1:0", "--plugin-addr", "unix:" + sock, "--shutdown-grace", "20s",
			"--idle-timeout", "300ms", "--max-procs", strconv.Itoa(runtime.GOMAXPROCS(0))}, env(nil), logs, ready)
	}()
	addr := <-ready
	base := "http://" + addr
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
		within(t, path+" to answer "+http.StatusText(want), func() bool { code, _ := get(path); return code == want })
	}

	waitStatus("/healthz", 200)
	if code, body := get("/plugins/bench/x"); code != 200 || body != "hello world" {
		t.Fatalf("%d %q", code, body)
	}

	// A keep-alive connection that sends nothing after its request is closed
	// by the server once --idle-timeout passes.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: e2e\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	idleResp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || idleResp.StatusCode != 200 || idleResp.Close {
		t.Fatalf("keep-alive request: %v %v", idleResp, err)
	}
	_, _ = io.Copy(io.Discard, idleResp.Body)
	_ = idle.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read %d bytes, err %v; want the server to close it (EOF)", n, err)
	}

	plugin.Stop()
	waitStatus("/healthz", 503)
	if code, _ := get("/plugins/bench/x"); code != 503 {
		t.Fatalf("plugin down: %d, want 503", code)
	}
	// Answered from the health state, without opening a stream.
	if !strings.Contains(logs.String(), "plugin unavailable (health not SERVING)") {
		t.Fatalf("503 not from the health state:\n%s", logs)
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
	plugin = startFakePlugin(t, sock, release)
	defer plugin.Stop()
	waitStatus("/healthz", 200)

	// Shutdown while a stream is in flight: it must complete whole.
	resp, err := client.Get(base + "/plugins/bench/hold")
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	stop()
	// Shutdown has begun once the listener refuses new connections; only
	// then may the plugin finish the held response.
	within(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	close(release)
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
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after shutdown")
	}
}

func TestFilesRootMustExist(t *testing.T) {
	var stderr testlog.Buffer
	missing := filepath.Join(t.TempDir(), "missing")
	rc := run(context.Background(), []string{"--plugin-addr", "unix:/x.sock"}, env(map[string]string{"HOSTSTUB_FILES_ROOT": missing}), &stderr, nil)
	if rc != 2 || !strings.Contains(stderr.String(), "--files-root must be an existing directory") || !strings.Contains(stderr.String(), missing) {
		t.Fatalf("rc %d, stderr %q; want 2 and a message naming the directory", rc, stderr.String())
	}
}

// TestFilesEndToEnd: through run(), a plugin's X-Sendfile is served from
// --files-root and /direct/file serves the same file.
func TestFilesEndToEnd(t *testing.T) {
	dir, err := os.MkdirTemp("", "sbhost")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "p.sock")
	root := filepath.Join(dir, "files")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "a.txt"), []byte("file bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	plugin := startFakePlugin(t, sock, nil)
	defer plugin.Stop()
	ctx, stop := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"--listen", "127.0.0.1:0", "--plugin-addr", "unix:" + sock, "--files-root", root,
			"--max-procs", strconv.Itoa(runtime.GOMAXPROCS(0))}, env(nil), io.Discard, ready)
	}()
	base := "http://" + <-ready
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	get := func(path string) (*http.Response, string) {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	within(t, "the plugin to be healthy", func() bool { resp, _ := get("/healthz"); return resp.StatusCode == 200 })
	if resp, body := get("/plugins/bench/sendfile/a.txt"); resp.StatusCode != 200 || body != "file bytes" ||
		resp.Header.Get("Content-Type") != "text/x-test" || resp.Header.Get("X-Sendfile") != "" {
		t.Fatalf("offload: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp, _ := get("/plugins/bench/sendfile/missing.txt"); resp.StatusCode != 404 {
		t.Fatalf("missing file: %d, want 404", resp.StatusCode)
	}
	if resp, body := get("/direct/file?path=a.txt"); resp.StatusCode != 200 || body != "file bytes" {
		t.Fatalf("/direct/file: %d %q", resp.StatusCode, body)
	}
	stop()
	if rc := <-exit; rc != 0 {
		t.Fatalf("exit %d", rc)
	}
}
