package loadgen

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server answers with a body of `size` bytes and counts the connections it accepted.
func server(t *testing.T, size int, status int) (*httptest.Server, func() int) {
	t.Helper()
	body := strings.Repeat("x", size)
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, func() int {
		mu.Lock()
		defer mu.Unlock()
		return conns
	}
}

func TestRunCountsEveryRequestOnItsOwnConnections(t *testing.T) {
	srv, conns := server(t, 1024, http.StatusOK)
	res, err := Run(context.Background(), Config{
		URL: srv.URL, Connections: 4, Requests: 200, Warmup: 500 * time.Millisecond, ExpectBytes: 1024,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 200 || len(res.LatenciesUS) != 200 || res.Errors != 0 {
		t.Fatalf("requests %d, latencies %d, errors %d (%s); want 200, 200, 0",
			res.Requests, len(res.LatenciesUS), res.Errors, res.FirstError)
	}
	if res.WarmupRequests == 0 {
		t.Fatal("no request completed during the warm-up")
	}
	// Keep-alive: about one connection per worker for 200+ requests (the
	// transport may replace one now and then; without reuse it would be 200+).
	if got := conns(); got > 8 {
		t.Fatalf("%d connections opened for 4 workers, want connections kept alive", got)
	}
	if res.Seconds <= 0 || res.ClientCPUSecs < 0 {
		t.Fatalf("seconds %v, cpu %v", res.Seconds, res.ClientCPUSecs)
	}
}

func TestRunStopsAfterDuration(t *testing.T) {
	srv, _ := server(t, 16, http.StatusOK)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	duration := 200 * time.Millisecond
	res, err := Run(ctx, Config{URL: srv.URL, Connections: 2, Duration: duration})
	if err != nil {
		t.Fatalf("the run did not stop by itself: %v", err)
	}
	// No worker can stop before the deadline, so the run lasts at least that long
	// (requests may be few or none on a loaded machine: not asserted).
	if res.Seconds < duration.Seconds() || res.Errors != 0 {
		t.Fatalf("seconds %v (want >= %v), errors %d (%s)", res.Seconds, duration.Seconds(), res.Errors, res.FirstError)
	}
	if len(res.LatenciesUS) != res.Requests {
		t.Fatalf("%d latencies for %d requests", len(res.LatenciesUS), res.Requests)
	}
}

func TestRunCountsWrongAnswersAsErrors(t *testing.T) {
	cases := []struct {
		name   string
		size   int
		status int
		expect int64
		want   string
	}{
		{"short body", 10, http.StatusOK, 1024, "body of 10 bytes, expected 1024"},
		{"bad status", 1024, http.StatusInternalServerError, 1024, "HTTP 500"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := server(t, tc.size, tc.status)
			res, err := Run(context.Background(), Config{URL: srv.URL, Connections: 2, Requests: 10, ExpectBytes: tc.expect})
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors != 10 || res.Requests != 0 || res.FirstError != tc.want {
				t.Fatalf("errors %d requests %d first %q; want 10, 0, %q", res.Errors, res.Requests, res.FirstError, tc.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		c    Config
	}{
		{"no url", Config{Connections: 1, Requests: 1}},
		{"no connections", Config{URL: "http://x", Requests: 1}},
		{"no stop", Config{URL: "http://x", Connections: 1}},
		{"negative warmup", Config{URL: "http://x", Connections: 1, Requests: 1, Warmup: -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tc.c); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestRunReturnsWhenCancelled(t *testing.T) {
	srv, _ := server(t, 16, http.StatusOK)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, Config{URL: srv.URL, Connections: 2, Duration: time.Hour}); err == nil {
		t.Fatal("want the context's error")
	}
}
