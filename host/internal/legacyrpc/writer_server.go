package legacyrpc

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
)

// ErrExchangeOver is what the plugin's writer calls get once the host has
// ended the exchange (the client is gone, the body failed, or the call
// returned): the plugin's next Write fails and its handler can stop.
var ErrExchangeOver = errors.New("legacyrpc: the host ended this response")

// errInvalidStatus answers a WriteHeader outside 100..999, which the host
// does not write (net/http would panic on it).
var errInvalidStatus = errors.New("invalid http status code")

// ResponseWriterServer serves the host's http.ResponseWriter to the plugin
// as net/rpc methods (registered as "Plugin" on the response-writer stream).
// Calls are serialized; after Close every call fails with ErrExchangeOver
// and w is never touched again, so the host's handler can return.
type ResponseWriterServer struct {
	w   http.ResponseWriter
	log *slog.Logger

	mu        sync.Mutex
	closed    bool
	committed bool // a status line went out (explicitly or by a write)
}

// NewResponseWriterServer serves w; log receives the invalid-status lines.
func NewResponseWriterServer(w http.ResponseWriter, log *slog.Logger) *ResponseWriterServer {
	return &ResponseWriterServer{w: w, log: log}
}

// Close ends the exchange for the plugin; it waits for a call in progress.
func (s *ResponseWriterServer) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// Committed reports whether the status line was sent to the client.
func (s *ResponseWriterServer) Committed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committed
}

// lock takes the writer for one call, or says the exchange is over.
func (s *ResponseWriterServer) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrExchangeOver
	}
	return nil
}

// Header answers the host's current header map.
func (s *ResponseWriterServer) Header(_ struct{}, reply *http.Header) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	*reply = s.w.Header()
	return nil
}

// SyncHeader makes the host's header map equal to the plugin's.
func (s *ResponseWriterServer) SyncHeader(header http.Header, _ *struct{}) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	dest := s.w.Header()
	for k := range dest {
		if _, keep := header[k]; !keep {
			delete(dest, k)
		}
	}
	for k, v := range header {
		dest[k] = v
	}
	return nil
}

// Write writes body bytes to the client.
func (s *ResponseWriterServer) Write(b []byte, _ *struct{}) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.committed = true
	_, err := s.w.Write(b)
	return err
}

// WriteHeader sends the status line. A status outside 100..999 (net/http's
// own check, which panics) is logged and refused, as upstream does.
func (s *ResponseWriterServer) WriteHeader(code int, _ *struct{}) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if code < 100 || code > 999 {
		s.log.Error(fmt.Sprintf("plugin tried to write an invalid http status code: %d; not written", code))
		return errInvalidStatus
	}
	if code >= 200 {
		s.committed = true
	}
	s.w.WriteHeader(code)
	return nil
}

// Flush flushes the response if the host's writer can; a writer that cannot
// is not an error (best effort).
func (s *ResponseWriterServer) Flush(_ struct{}, _ *struct{}) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.committed = true
	err := http.NewResponseController(s.w).Flush()
	if errors.Is(err, http.ErrNotSupported) {
		return nil
	}
	return err
}
