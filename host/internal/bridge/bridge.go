// Package bridge forwards one HTTP request to a plugin over one bidirectional
// ServeHTTP gRPC stream and streams the plugin's response back to the client
// as it arrives, in bounded memory.
//
// One request is one exchange, read top to bottom in exchange.go:
//
//	open stream -> request pump (goroutine: init, body_chunk..., body_complete)
//	            -> response loop: awaitingInit -> streamingBody -> complete
//	                              any state  -> error -> classify (classify.go)
//	                                         -> Bridge.fail: 500/503/504/413/408
//	                                            before response-init, abort after it
//
// The wire invariants it enforces are listed in proto/hooks_http.proto;
// docs/design.md maps each one to the function that enforces it.
package bridge

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/streambench/host/internal/admission"
	"github.com/streambench/host/internal/files"
	"github.com/streambench/host/internal/gen/pluginapiv1"
	"github.com/streambench/host/internal/stats"
)

// Defaults for Bridge's zero-valued fields.
const (
	// DefaultRequestChunkBytes is the largest request body_chunk. Upstream
	// uses 64 KiB; the plugin's cost is per message (docs/decisions.md),
	// and 1 MiB messages roughly double upload throughput and halve the
	// plugin's CPU per GiB. The pump still sends short reads at once.
	DefaultRequestChunkBytes = 1 << 20
	// DefaultMaxMessageBytes is the largest ServeHTTPResponse accepted: room
	// for plugins that send multi-MiB chunks, still a bound on memory.
	DefaultMaxMessageBytes = 8 << 20
	// DefaultEndGrace is how long the bridge waits, after body_complete, for
	// the plugin to end the stream before cancelling it.
	DefaultEndGrace = 2 * time.Second
	// DefaultPumpStopTimeout bounds the wait for the request pump to return
	// after the response has ended (see requestPump.stop).
	DefaultPumpStopTimeout = 5 * time.Second
)

// UserIDHeader is the header the real server sets for authenticated users; a
// client-supplied one is never forwarded.
const UserIDHeader = "Mattermost-User-Id"

// The file offload's headers (X-Sendfile, as lighttpd and Apache name it;
// the advertisement as Rack::Sendfile does).
const (
	// SendfileHeader on a plugin's response-init names a file under
	// Bridge.Files (slash-separated, relative) for the host to serve in
	// place of a body. It never reaches the client.
	SendfileHeader = "X-Sendfile"
	// SendfileTypeHeader is added to the plugin's request, with the value
	// SendfileHeader, when offload is on; a client-supplied one is never
	// forwarded.
	SendfileTypeHeader = "X-Sendfile-Type"
)

// Bridge is an http.Handler that serves each request through the plugin's
// PluginHooks.ServeHTTP stream, like httputil.ReverseProxy does for HTTP
// backends. Its fields are its configuration; set them before serving.
type Bridge struct {
	// PluginID names the plugin in log lines.
	PluginID string

	// Plugin is the client for the plugin's hooks service. Required.
	Plugin pluginapiv1.PluginHooksClient

	// Ready reports whether the plugin is reachable (health SERVING). When it
	// returns false the bridge answers 503 at once instead of waiting for a
	// connection. nil means always try (an unreachable plugin still gives 503,
	// via gRPC's Unavailable).
	Ready func() bool

	// RequestChunkBytes is the largest body_chunk sent to the plugin. Zero
	// means DefaultRequestChunkBytes.
	RequestChunkBytes int

	// MaxMessageBytes is the largest ServeHTTPResponse message accepted from
	// the plugin (gRPC MaxCallRecvMsgSize). A larger one is a protocol error.
	// Zero means DefaultMaxMessageBytes.
	MaxMessageBytes int

	// MaxBodyBytes caps the request body; zero means unlimited. A declared
	// Content-Length over it gets 413 without contacting the plugin. A body
	// that grows past it mid-upload cancels the stream: 413 if the plugin has
	// not sent response-init yet, an aborted response otherwise (the plugin
	// answered a request it never fully received).
	MaxBodyBytes int64

	// InitTimeout bounds the wait for the plugin's response-init; when it
	// passes first the stream is cancelled and the client gets 504. Zero
	// means no bound (a plugin may take as long as it likes to start).
	InitTimeout time.Duration

	// ReadProgressTimeout bounds each read of the request body: a client
	// that sends no byte for this long gets 408 (before response-init) or
	// an aborted response (after), and the plugin's stream is cancelled.
	// Every read that returns bytes moves the deadline on, so long uploads
	// pass as long as they keep moving. Zero means no bound.
	ReadProgressTimeout time.Duration

	// WriteProgressTimeout bounds each write of the response to the client:
	// a client that takes no bytes for this long gets its response aborted
	// and the plugin's stream cancelled. Writes go out in pieces of
	// WritePieceBytes, each with the deadline moved on, so a slow reader
	// is cut only when it takes less than a piece per timeout. Zero means
	// no bound (and no pieces).
	WriteProgressTimeout time.Duration

	// WritePieceBytes is the most written to the client under one write
	// deadline; zero means DefaultWritePieceBytes. Smaller pieces let
	// slower clients pass and cost more CPU per byte (a system call each).
	WritePieceBytes int

	// Buffered reads the plugin's whole response into memory before writing
	// any of it: the naive bridge this package replaces, kept as the
	// reference the bench compares against. Memory grows with body size.
	Buffered bool

	// FlushEveryChunk flushes after every body chunk (ReverseProxy's
	// FlushInterval = -1). When false, the bridge flushes when the plugin
	// asks (flush=true) and after every chunk of a text/event-stream response.
	FlushEveryChunk bool

	// EndGrace is how long to wait after body_complete for the plugin to end
	// its stream; zero means DefaultEndGrace.
	EndGrace time.Duration

	// Log receives one line per failed request naming the plugin, the path
	// and the reason. nil means slog.Default().
	Log *slog.Logger

	// Streams counts active and total streams for /debug/stats; nil means no
	// counting.
	Streams *stats.Streams

	// Observer sees each stream's start, first response byte, body bytes
	// each way and outcome (metrics); nil means none.
	Observer Observer
	// Budget bounds the body bytes held for all streams together (see
	// Budget); a stream waits for its share before it opens. nil means no
	// bound beyond each stream's own.
	Budget *Budget

	// WindowBytes is the HTTP/2 window towards the plugin (pluginconn's
	// WindowBytes), counted in each stream's share of Budget. Zero means
	// pluginconn.DefaultWindowBytes.
	WindowBytes int64

	// Files is the root the file offload serves from: a response-init with
	// status 200 (or 0), the header X-Sendfile: REL and no body makes the
	// host serve REL under Files itself with http.ServeContent (Range,
	// conditional requests, HEAD; sendfile on HTTP/1), so the plugin never
	// touches the bytes. nil turns offload off: X-Sendfile is then a 500,
	// and the plugin's request carries no X-Sendfile-Type.
	Files *files.Root
}

// ServeHTTP bridges one request. It panics with http.ErrAbortHandler when the
// response must be aborted after its status line was sent, so the client sees
// a broken transfer and never a short body that looks complete.
func (b *Bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b.Streams != nil {
		b.Streams.Start()
		defer b.Streams.End()
	}
	w, r, ended := b.observe(w, r)
	outcome := OutcomeOK
	defer func() { ended(outcome) }() // also when fail aborts with a panic
	releaseBudget := func() {}
	if b.Budget != nil {
		release, err := b.Budget.reserve(r.Context(), b.streamReserveBytes(r))
		if err != nil {
			outcome = OutcomeClientGone
			b.logger().Debug("client went away while waiting for the memory budget",
				"plugin_id", b.PluginID, "path", r.URL.Path)
			return
		}
		releaseBudget = release
	}
	defer func() { releaseBudget() }()
	ex := newExchange(b, w, r)
	defer ex.reportDroppedBody()
	// net/http flushes what is left (and the chunked terminator) after the
	// handler returns, then clears the deadline: give that one write its
	// time too.
	defer ex.deadlines.armWrite()
	err := ex.run()
	if err == nil && ex.file != nil {
		// The plugin's stream has ended; the file copy holds no body bytes
		// and no plugin stream, so a long download gives back its budget
		// share and its admission slot before it starts.
		releaseBudget()
		releaseBudget = func() {}
		admission.Release(r.Context())
		err = ex.serveFile()
	}
	if err != nil {
		f := classify(ex.failState(err))
		outcome = f.outcome
		b.fail(ex, f)
		return
	}
	if ex.buffer != nil && ex.file == nil {
		if err := ex.buffer.writeTo(progressWriter{w, ex.deadlines}); err != nil {
			outcome = OutcomeClientGone
			b.logger().Warn("writing buffered response failed", "plugin_id", b.PluginID,
				"path", r.URL.Path, "reason", errClientWrite.Error(), "err", err.Error())
		}
	}
}

// fail is the one place every failed exchange ends, acting on classify's
// verdict: a log line, then either an error status (nothing sent yet) or an
// aborted response (status line sent).
func (b *Bridge) fail(ex *exchange, f failure) {
	if f.headEnded {
		return
	}
	attrs := []any{
		"plugin_id", b.PluginID,
		"path", ex.r.URL.Path,
		"method", ex.r.Method,
		"reason", f.reason,
		"committed", f.abort,
	}
	if f.err != nil {
		attrs = append(attrs, "err", f.err.Error())
	}
	if f.abort {
		attrs = append(attrs, "outcome", "abort")
	} else {
		attrs = append(attrs, "outcome", "status", "status", f.status)
	}
	b.logger().Log(ex.r.Context(), f.level, "plugin request failed", attrs...)
	if f.abort {
		panic(http.ErrAbortHandler)
	}
	if f.closeConn {
		// The rest of the body never came: the connection cannot carry
		// another request. (HTTP/2 streams end on their own.)
		ex.w.Header().Set("Connection", "close")
	}
	// The host's own error text is not plugin body: observers do not count it.
	http.Error(unobserved(ex.w), http.StatusText(f.status)+": "+f.reason, f.status)
}

func (b *Bridge) logger() *slog.Logger {
	if b.Log != nil {
		return b.Log
	}
	return slog.Default()
}

func (b *Bridge) requestChunkBytes() int {
	if b.RequestChunkBytes > 0 {
		return b.RequestChunkBytes
	}
	return DefaultRequestChunkBytes
}

func (b *Bridge) maxMessageBytes() int {
	if b.MaxMessageBytes > 0 {
		return b.MaxMessageBytes
	}
	return DefaultMaxMessageBytes
}

func (b *Bridge) endGrace() time.Duration {
	if b.EndGrace > 0 {
		return b.EndGrace
	}
	return DefaultEndGrace
}
