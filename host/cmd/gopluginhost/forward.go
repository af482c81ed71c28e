package main

import (
	"errors"
	"log/slog"
	"net/http"
	"net/rpc"

	"github.com/streambench/host/internal/legacyrpc"
	"github.com/streambench/host/internal/stats"
)

// userIDHeader is set by the Mattermost server from the session, never taken
// from a client.
const userIDHeader = "Mattermost-User-Id"

// forwarder serves /plugins/bench/... (prefix stripped) through the
// plugin's ServeHTTP on the legacy RPC, and ends every failure in one place.
type forwarder struct {
	hooks   *legacyrpc.HooksClient
	streams *stats.Streams
	log     *slog.Logger
}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := r.Header[userIDHeader]; ok {
		shallow := *r
		shallow.Header = r.Header.Clone()
		shallow.Header.Del(userIDHeader)
		r = &shallow
	}
	f.streams.Start()
	defer f.streams.End()
	err := f.hooks.ServeHTTP(w, r)
	if err == nil {
		return
	}
	var failure *legacyrpc.Failure
	if !errors.As(err, &failure) {
		failure = &legacyrpc.Failure{Err: err}
	}
	status, reason, level := classify(failure)
	f.log.Log(r.Context(), level, "plugin request failed", "path", r.URL.Path, "reason", reason,
		"err", failure.Err, "status_sent", failure.Committed)
	if failure.Committed {
		// The status line and part of the body are out: only cutting the
		// response keeps a truncated body from looking complete.
		panic(http.ErrAbortHandler)
	}
	http.Error(w, reason, status)
}

// classify is what a failed exchange means for the client: the status it
// gets if nothing was sent yet, the log reason and level (WARN when the
// client caused it).
func classify(f *legacyrpc.Failure) (status int, reason string, level slog.Level) {
	var server rpc.ServerError
	switch {
	case f.ClientGone:
		return http.StatusServiceUnavailable, "client went away", slog.LevelWarn
	case f.BodyFailed:
		return http.StatusBadRequest, "reading the request body failed", slog.LevelWarn
	case errors.As(f.Err, &server):
		return http.StatusInternalServerError, "plugin answered an error", slog.LevelError
	default: // rpc.ErrShutdown, io.ErrUnexpectedEOF: the plugin's connection is gone
		return http.StatusBadGateway, "plugin connection lost", slog.LevelError
	}
}
