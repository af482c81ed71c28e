package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streambench/host/internal/testlog"

	"go.uber.org/goleak"

	"github.com/streambench/host/internal/maxprocs"
)

// pluginBin is the goplugin binary TestMain builds for the whole package.
var pluginBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "goplugin-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginBin = filepath.Join(dir, "goplugin")
	build := exec.Command("go", "build", "-o", pluginBin, "../goplugin")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building goplugin:", err)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestConfigFromFlagsAndEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    config
		wantErr string
	}{
		{name: "defaults", want: config{listen: "127.0.0.1:8066", pluginBin: besideExecutable("goplugin"),
			maxProcs: maxprocs.Default(), logLevel: "info", shutdownGrace: 10 * time.Second}},
		{name: "env", env: map[string]string{"GOPLUGINHOST_LISTEN": "0.0.0.0:8066", "GOPLUGINHOST_PLUGIN_BIN": "/x/goplugin",
			"GOPLUGINHOST_MAX_PROCS": "3"},
			want: config{listen: "0.0.0.0:8066", pluginBin: "/x/goplugin", maxProcs: 3, logLevel: "info", shutdownGrace: 10 * time.Second}},
		{name: "flag wins", args: []string{"--listen", "127.0.0.1:1"}, env: map[string]string{"GOPLUGINHOST_LISTEN": "0.0.0.0:2"},
			want: config{listen: "127.0.0.1:1", pluginBin: besideExecutable("goplugin"), maxProcs: maxprocs.Default(),
				logLevel: "info", shutdownGrace: 10 * time.Second}},
		{name: "bad env value", env: map[string]string{"GOPLUGINHOST_MAX_PROCS": "lots"}, wantErr: "GOPLUGINHOST_MAX_PROCS"},
		{name: "max-procs 0", args: []string{"--max-procs", "0"}, wantErr: "--max-procs"},
		{name: "empty plugin bin", args: []string{"--plugin-bin", ""}, wantErr: "--plugin-bin"},
		{name: "stray argument", args: []string{"serve"}, wantErr: "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseConfig(tc.args, env(tc.env), io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("config %+v err %v, want %+v", got, err, tc.want)
			}
		})
	}
}

func TestMissingPluginBinaryIsAClearError(t *testing.T) {
	var stderr testlog.Buffer
	rc := run(context.Background(), []string{"--listen", "127.0.0.1:0", "--plugin-bin", filepath.Join(t.TempDir(), "nope")},
		env(nil), &stderr, nil)
	if rc != 1 || !strings.Contains(stderr.String(), "cannot start the plugin") {
		t.Fatalf("rc %d, stderr %q", rc, stderr.String())
	}
}

func TestHealthSubcommand(t *testing.T) {
	if rc := run(context.Background(), []string{"health", "--url", "http://127.0.0.1:1/healthz"}, env(nil), io.Discard, nil); rc != 1 {
		t.Fatalf("rc %d probing nothing, want 1", rc)
	}
}

// host is a gopluginhost started by run, with its plugin child.
type host struct {
	base   string
	logs   *testlog.Buffer
	client *http.Client
	done   chan int
	stop   context.CancelFunc
}

func startHost(t *testing.T) *host {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &host{logs: &testlog.Buffer{}, done: make(chan int, 1), stop: cancel,
		client: &http.Client{Transport: &http.Transport{}}}
	ready := make(chan string, 1)
	go func() {
		h.done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--plugin-bin", pluginBin}, env(nil), h.logs, ready)
	}()
	select {
	case addr := <-ready:
		h.base = "http://" + addr
	case rc := <-h.done:
		t.Fatalf("gopluginhost exited %d before listening:\n%s", rc, h.logs)
	}
	t.Cleanup(func() {
		h.client.CloseIdleConnections()
		h.stop()
		if rc := <-h.done; rc != 0 {
			t.Errorf("gopluginhost exited %d:\n%s", rc, h.logs)
		}
	})
	return h
}

func (h *host) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := h.client.Get(h.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp, body
}

// stats is GET /debug/stats.
func (h *host) stats(t *testing.T) map[string]map[string]any {
	t.Helper()
	_, body := h.get(t, "/debug/stats")
	var st map[string]map[string]any
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("stats %q: %v", body, err)
	}
	return st
}

// waitFor polls cond until it holds; the deadline only bounds a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// pattern is n body bytes, byte i = i % 256.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestEndToEnd(t *testing.T) {
	h := startHost(t)
	t.Run("healthz", func(t *testing.T) {
		if resp, body := h.get(t, "/healthz"); resp.StatusCode != 200 || !strings.Contains(string(body), "plugin RPC answers") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
	t.Run("download is byte-exact", func(t *testing.T) {
		for _, q := range []struct{ size, chunk int }{{1024, 1024}, {1<<20 + 7, 1000}, {300_000, 65536}, {0, 1}} {
			resp, body := h.get(t, fmt.Sprintf("/plugins/bench/download?size=%d&chunk=%d", q.size, q.chunk))
			if resp.StatusCode != 200 || resp.ContentLength != int64(q.size) ||
				resp.Header.Get("Content-Type") != "application/octet-stream" || string(body) != string(pattern(q.size)) {
				t.Fatalf("size %d chunk %d: %d length %d type %q, %d bytes (pattern: %v)", q.size, q.chunk, resp.StatusCode,
					resp.ContentLength, resp.Header.Get("Content-Type"), len(body), string(body) == string(pattern(q.size)))
			}
		}
	})
	t.Run("upload hashes what it reads", func(t *testing.T) {
		payload := pattern(3<<20 + 5)
		sum := sha256.Sum256(payload)
		for query, want := range map[string]any{"": hex.EncodeToString(sum[:]), "?hash=none": nil} {
			resp, err := h.client.Post(h.base+"/plugins/bench/upload"+query, "application/octet-stream", strings.NewReader(string(payload)))
			if err != nil {
				t.Fatal(err)
			}
			var answer map[string]any
			err = json.NewDecoder(resp.Body).Decode(&answer)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || answer["bytes"] != float64(len(payload)) || answer["sha256"] != want {
				t.Fatalf("upload%s: %d %v (err %v)", query, resp.StatusCode, answer, err)
			}
		}
	})
	t.Run("bad input", func(t *testing.T) {
		for path, want := range map[string]int{
			"/plugins/bench/download?size=abc":        400,
			"/plugins/bench/download?size=10&chunk=0": 400,
			"/plugins/bench/download?size=-1":         400,
			"/plugins/bench/nothing-here":             404,
			"/plugins/other/download":                 404,
		} {
			resp, body := h.get(t, path)
			var answer map[string]string
			if resp.StatusCode != want {
				t.Fatalf("%s: %d %q, want %d", path, resp.StatusCode, body, want)
			}
			if strings.HasPrefix(path, "/plugins/bench/") && (json.Unmarshal(body, &answer) != nil || answer["error"] == "") {
				t.Fatalf("%s: body %q, want a JSON error", path, body)
			}
		}
	})
	t.Run("stats", func(t *testing.T) {
		st := h.stats(t)
		for side, keys := range map[string][]string{
			"host":   {"pid", "rss_bytes", "cpu_seconds", "goroutines", "heap_inuse_bytes", "active_streams", "streams_total"},
			"plugin": {"pid", "rss_bytes", "cpu_seconds", "goroutines", "heap_inuse_bytes", "active_handlers", "handlers_total"},
		} {
			for _, k := range keys {
				if v, ok := st[side][k].(float64); !ok || (k == "pid" && v <= 0) {
					t.Errorf("%s.%s = %v", side, k, st[side][k])
				}
			}
		}
		if st["host"]["go_version"] == "" || st["host"]["pid"] == st["plugin"]["pid"] {
			t.Errorf("host %v plugin %v", st["host"], st["plugin"])
		}
		if st["host"]["streams_total"].(float64) < 1 || st["plugin"]["handlers_total"].(float64) < 1 {
			t.Errorf("no request counted: %v", st)
		}
	})
	t.Run("client gone mid-download", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /plugins/bench/download?size=%d&chunk=65536 HTTP/1.1\r\nHost: x\r\n\r\n", 1<<40)
		if _, err := io.ReadFull(conn, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		_ = conn.Close()
		// The plugin's writes fail, its handler returns, the host's handler too.
		waitFor(t, "the request to end on both sides", func() bool {
			st := h.stats(t)
			return st["host"]["active_streams"] == 0.0 && st["plugin"]["active_handlers"] == 0.0
		})
	})
}

func TestPluginCrash(t *testing.T) {
	h := startHost(t)
	pid := int(h.stats(t)["plugin"]["pid"].(float64))
	resp, err := h.client.Get(h.base + fmt.Sprintf("/plugins/bench/download?size=%d&chunk=65536", 1<<40))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Mid-body: the response is cut, never ended as if complete.
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading the rest after the crash: %v, want an unexpected EOF", err)
	}
	waitFor(t, "/healthz to say the plugin is gone", func() bool {
		resp, _ := h.get(t, "/healthz")
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	// Before any status: a clear 5xx.
	if resp, body := h.get(t, "/plugins/bench/download?size=10"); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("after the crash: %d %q, want 502", resp.StatusCode, body)
	}
	if st := h.stats(t); st["plugin"]["error"] == nil {
		t.Fatalf("stats of a dead plugin: %v", st["plugin"])
	}
	if !strings.Contains(h.logs.String(), "plugin request failed") {
		t.Fatalf("no log line for the failed requests:\n%s", h.logs)
	}
}

func TestShutdownStopsThePlugin(t *testing.T) {
	h := startHost(t)
	pid := int(h.stats(t)["plugin"]["pid"].(float64))
	h.client.CloseIdleConnections()
	h.stop()
	if rc := <-h.done; rc != 0 {
		t.Fatalf("rc %d:\n%s", rc, h.logs)
	}
	h.done <- 0 // for the cleanup
	// go-plugin's Kill has waited for the child: it is gone, not a zombie.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("plugin pid %d still there after shutdown: %v", pid, err)
	}
}
