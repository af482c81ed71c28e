package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/rpc"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/streambench/host/internal/legacyrpc"
	"github.com/streambench/host/internal/stats"
)

// headerEcho is a plugin that answers the request headers it got.
type headerEcho struct{}

func (headerEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Saw-User-Id", r.Header.Get(userIDHeader))
	w.Header().Set("X-Saw-Other", r.Header.Get("X-Other"))
	w.WriteHeader(http.StatusNoContent)
}
func (headerEcho) Stats(bool) legacyrpc.Stats { return legacyrpc.Stats{} }

func TestForwarderDropsAClientsUserID(t *testing.T) {
	client, _ := plugin.TestPluginRPCConn(t, plugin.PluginSet{legacyrpc.PluginName: &legacyrpc.HooksPlugin{Impl: headerEcho{}}}, nil)
	defer client.Close()
	raw, err := client.Dispense(legacyrpc.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{hooks: raw.(*legacyrpc.HooksClient),
		streams: &stats.Streams{}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set(userIDHeader, "forged")
	req.Header.Set("X-Other", "kept")
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent || rec.Header().Get("X-Saw-User-Id") != "" || rec.Header().Get("X-Saw-Other") != "kept" {
		t.Fatalf("%d %v: the plugin saw a client's user id, or lost another header", rec.Code, rec.Header())
	}
	if req.Header.Get(userIDHeader) != "forged" {
		t.Fatal("the incoming request was modified in place")
	}
	if f.streams.Active() != 0 || f.streams.Total() != 1 {
		t.Fatalf("streams active %d total %d", f.streams.Active(), f.streams.Total())
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failure legacyrpc.Failure
		status  int
		level   slog.Level
	}{
		{"client gone", legacyrpc.Failure{Err: context.Canceled, ClientGone: true}, http.StatusServiceUnavailable, slog.LevelWarn},
		{"body failed", legacyrpc.Failure{Err: io.ErrUnexpectedEOF, BodyFailed: true}, http.StatusBadRequest, slog.LevelWarn},
		{"plugin answered an error", legacyrpc.Failure{Err: rpc.ServerError("dial failed")}, http.StatusInternalServerError, slog.LevelError},
		{"plugin gone", legacyrpc.Failure{Err: rpc.ErrShutdown}, http.StatusBadGateway, slog.LevelError},
		{"connection cut", legacyrpc.Failure{Err: io.ErrUnexpectedEOF}, http.StatusBadGateway, slog.LevelError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, reason, level := classify(&tc.failure)
			if status != tc.status || level != tc.level || reason == "" {
				t.Fatalf("classify: %d %q %v, want %d at %v", status, reason, level, tc.status, tc.level)
			}
		})
	}
}

// A failure after the status line went out is an abort, never a clean end.
func TestForwarderAbortsACommittedResponse(t *testing.T) {
	client, _ := plugin.TestPluginRPCConn(t, plugin.PluginSet{legacyrpc.PluginName: &legacyrpc.HooksPlugin{Impl: writeThenWait{}}}, nil)
	raw, err := client.Dispense(legacyrpc.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{hooks: raw.(*legacyrpc.HooksClient),
		streams: &stats.Streams{}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	w := &cancelOnWrite{ResponseRecorder: httptest.NewRecorder(), cancel: cancel}
	defer func() {
		_ = client.Close()
		if p := recover(); !errors.Is(asError(p), http.ErrAbortHandler) {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", p)
		}
	}()
	f.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/x", nil).WithContext(ctx))
	t.Fatal("ServeHTTP returned normally after a committed failure")
}

// writeThenWait writes until a write fails.
type writeThenWait struct{}

func (writeThenWait) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	for {
		if _, err := w.Write([]byte("bytes")); err != nil {
			return
		}
	}
}
func (writeThenWait) Stats(bool) legacyrpc.Stats { return legacyrpc.Stats{} }

// cancelOnWrite ends the request's context at the first body write (the
// client goes once the status is out).
type cancelOnWrite struct {
	*httptest.ResponseRecorder
	cancel context.CancelFunc
}

func (c *cancelOnWrite) Write(b []byte) (int, error) {
	c.cancel()
	return len(b), nil
}

func asError(p any) error {
	err, _ := p.(error)
	return err
}
