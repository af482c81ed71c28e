package serve

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestUntilDone(t *testing.T) {
	tests := []struct {
		name string
		// stop ends the serving: a cancelled context, or a listener that fails.
		stop func(cancel context.CancelFunc, ln net.Listener)
		want int
	}{
		{"told to stop: drained", func(cancel context.CancelFunc, _ net.Listener) { cancel() }, 0},
		{"server stopped by itself", func(_ context.CancelFunc, ln net.Listener) { _ = ln.Close() }, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "ok")
			})}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan int, 1)
			go func() {
				done <- UntilDone(ctx, srv, ln, 5*time.Second, func() int64 { return 0 }, slog.New(slog.DiscardHandler))
			}()
			// Serving: a request is answered before the stop.
			resp, err := http.Get("http://" + ln.Addr().String() + "/")
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			http.DefaultClient.CloseIdleConnections()
			tc.stop(cancel, ln)
			if got := <-done; got != tc.want {
				t.Fatalf("exit status %d, want %d", got, tc.want)
			}
			_ = srv.Close()
		})
	}
}

func TestUntilDoneLetsAnInFlightRequestFinish(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "finished")
	})}
	draining := make(chan struct{})
	srv.RegisterOnShutdown(func() { close(draining) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- UntilDone(ctx, srv, ln, time.Minute, func() int64 { return 1 }, slog.New(slog.DiscardHandler))
	}()
	body := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			body <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body <- string(b)
	}()
	<-entered
	cancel()
	<-draining // the drain began while the request is in flight
	close(release)
	if got := <-body; got != "finished" {
		t.Fatalf("in-flight request got %q, want its whole answer", got)
	}
	if got := <-done; got != 0 {
		t.Fatalf("exit status %d, want 0", got)
	}
	http.DefaultClient.CloseIdleConnections()
}
