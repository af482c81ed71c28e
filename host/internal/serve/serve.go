// Package serve runs a host's HTTP server until it is told to stop, then
// drains it: the one server set-up and shutdown path of hoststub and
// gopluginhost.
package serve

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// UntilDone serves srv on ln until ctx is done, then stops accepting, lets
// in-flight requests finish for up to grace and closes the connections that
// are left. active reports the streams in flight, for the log lines. The
// result is the process's exit status: 0 after a drain, 1 when the server
// stopped by itself.
func UntilDone(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration, active func() int64, log *slog.Logger) int {
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		log.Error("server stopped", "err", err)
		return 1
	case <-ctx.Done():
	}

	log.Info("shutting down: draining in-flight requests", "grace", grace, "active_streams", active())
	drainCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		log.Warn("drain incomplete; closing remaining connections", "err", err, "active_streams", active())
		_ = srv.Close()
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		log.Warn("server ended with an error while draining", "err", err)
	}
	log.Info("stopped")
	return 0
}
