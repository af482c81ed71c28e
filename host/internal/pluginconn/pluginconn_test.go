package pluginconn

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTarget(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"unix:/tmp/p.sock", "unix:/tmp/p.sock", ""},
		{"unix:///tmp/p.sock", "unix:/tmp/p.sock", ""},
		{"127.0.0.1:50051", "passthrough:///127.0.0.1:50051", ""},
		{"localhost:1", "passthrough:///localhost:1", ""},
		{"", "", "empty"},
		{"unix:", "", "no socket path"},
		{"http://x:1", "", "want unix"},
		{"justahost", "", "missing :port"},
	} {
		got, err := Target(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Target(%q) err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Target(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// servePlugin starts a gRPC server with a SERVING health service on sock.
func servePlugin(t *testing.T, sock string) *grpc.Server {
	t.Helper()
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus(HealthService, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	return srv
}

func waitReady(t *testing.T, c *Conn, want bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for c.Ready() != want {
		if time.Now().After(deadline) {
			t.Fatalf("Ready() still %v after %v (status %s)", !want, within, c.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHealthFollowsPluginRestart: not ready while the plugin is absent,
// ready when it starts, not ready when it stops, ready again after a restart
// at the same address, with no new Dial.
func TestHealthFollowsPluginRestart(t *testing.T) {
	dir, err := os.MkdirTemp("", "sbconn")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "p.sock")

	c, err := Dial("unix:"+sock, Options{MaxReconnectDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Once a dial to the absent plugin has failed, the connection has tried
	// and must not claim readiness.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for state := c.ClientConn().GetState(); state != connectivity.TransientFailure; state = c.ClientConn().GetState() {
		if !c.ClientConn().WaitForStateChange(ctx, state) {
			t.Fatalf("no failed dial to the absent plugin (state %s)", state)
		}
	}
	if c.Ready() {
		t.Fatal("ready with no plugin")
	}

	srv := servePlugin(t, sock)
	waitReady(t, c, true, 20*time.Second)
	srv.Stop()
	waitReady(t, c, false, 20*time.Second)
	_ = os.Remove(sock)

	srv = servePlugin(t, sock)
	defer srv.Stop()
	waitReady(t, c, true, 20*time.Second)
	if !strings.Contains(c.Status(), "SERVING") {
		t.Fatalf("status %q", c.Status())
	}
}
