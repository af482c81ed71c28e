package serve

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// NewLogger is a host's text logger on w at level ("debug", "info", "warn"
// or "error"); an unknown level is an error naming the flag.
func NewLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// NewServer is a host's HTTP server for handler: HTTP/1.1 and h2c with prior
// knowledge (for HTTP/2 load tools), the server's own errors logged as
// warnings, and header and idle timeouts a caller may override. It sets no
// ReadTimeout or WriteTimeout: those bound a whole request and would cut
// long healthy transfers.
func NewServer(handler http.Handler, log *slog.Logger) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		Protocols:         &protocols,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
