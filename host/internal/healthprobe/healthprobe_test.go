package healthprobe

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()
	for _, tc := range []struct {
		name   string
		status int32
		args   []string
		want   int
		stderr string
	}{
		{"healthy", 200, []string{"--url", srv.URL}, 0, ""},
		{"unhealthy says what answered", 503, []string{"--url", srv.URL}, 1, "answered 503"},
		{"help", 200, []string{"--help"}, 0, "-url"},
		{"bad flag", 200, []string{"--bogus"}, 2, "bogus"},
		{"bad URL", 200, []string{"--url", "::"}, 2, "health:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status.Store(tc.status)
			var stderr strings.Builder
			if rc := Run(context.Background(), "x", "http://127.0.0.1:1/healthz", tc.args, &stderr); rc != tc.want {
				t.Fatalf("rc %d, want %d; stderr %q", rc, tc.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("stderr %q, want it to contain %q", stderr.String(), tc.stderr)
			}
		})
	}
	if rc := Run(context.Background(), "x", "http://127.0.0.1:1/healthz", nil, io.Discard); rc != 1 {
		t.Fatalf("rc %d with nothing listening, want 1", rc)
	}
}
