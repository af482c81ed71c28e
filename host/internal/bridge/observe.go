package bridge

import (
	"io"
	"net/http"
)

// Outcome is how a bridged stream ended, as an Observer sees it.
type Outcome string

const (
	// OutcomeOK: the whole response reached the client.
	OutcomeOK Outcome = "ok"
	// OutcomeError: an error status (500, 503, 504, 413, 400) was sent
	// before any of the plugin's response.
	OutcomeError Outcome = "error"
	// OutcomeAborted: the response was cut after response-init (the client
	// sees an aborted transfer).
	OutcomeAborted Outcome = "aborted"
	// OutcomeClientGone: the client went away or could not be written to.
	OutcomeClientGone Outcome = "client_gone"
)

// Outcomes lists every Outcome, for observers that pre-create their series.
var Outcomes = []Outcome{OutcomeOK, OutcomeError, OutcomeAborted, OutcomeClientGone}

// Observer watches streams from outside the bridge (metrics). Its methods
// are called on the request's goroutine, except StreamObserver's
// BodyBytesToPlugin, which the request pump calls from its own.
type Observer interface {
	// StreamStarted is called once per request, first thing in ServeHTTP.
	StreamStarted() StreamObserver
}

// StreamObserver receives one stream's events.
type StreamObserver interface {
	// ResponseStarted: the plugin's status line or first body byte is
	// written to the client (time to first byte). The host's own error
	// answers are neither this nor body bytes.
	ResponseStarted()
	// BodyBytesToClient: n response body bytes were written to the client.
	BodyBytesToClient(n int)
	// BodyBytesToPlugin: n request body bytes were read from the client for
	// the plugin.
	BodyBytesToPlugin(n int)
	// StreamEnded is called exactly once, last, with how the stream ended.
	StreamEnded(outcome Outcome)
}

// observedWriter counts what reaches the client. Unwrap lets
// http.ResponseController reach the real writer (flush, full duplex, read
// deadline), so observing changes nothing about how the response is served.
type observedWriter struct {
	http.ResponseWriter
	stream  StreamObserver
	started bool
}

func (w *observedWriter) WriteHeader(code int) {
	w.start()
	w.ResponseWriter.WriteHeader(code)
}

func (w *observedWriter) Write(p []byte) (int, error) {
	w.start()
	n, err := w.ResponseWriter.Write(p)
	if n > 0 {
		w.stream.BodyBytesToClient(n)
	}
	return n, err
}

// ReadFrom keeps the writer's own ReadFrom (net/http's sendfile) reachable
// through the wrapper, counting what it copied.
func (w *observedWriter) ReadFrom(src io.Reader) (int64, error) {
	w.start()
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, src)
	}
	if n > 0 {
		w.stream.BodyBytesToClient(int(n))
	}
	return n, err
}

func (w *observedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *observedWriter) start() {
	if !w.started {
		w.started = true
		w.stream.ResponseStarted()
	}
}

// unobserved is the client's writer without the observer's wrapper.
func unobserved(w http.ResponseWriter) http.ResponseWriter {
	if o, ok := w.(*observedWriter); ok {
		return o.ResponseWriter
	}
	return w
}

// observedBody counts the request body as the pump reads it.
type observedBody struct {
	io.ReadCloser
	stream StreamObserver
}

func (b *observedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.stream.BodyBytesToPlugin(n)
	}
	return n, err
}

// observe wraps the client's writer and body for an Observer; without one it
// returns them unchanged and a no-op end.
func (b *Bridge) observe(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, func(Outcome)) {
	if b.Observer == nil {
		return w, r, func(Outcome) {}
	}
	stream := b.Observer.StreamStarted()
	if hasBody(r.Body) {
		r2 := *r // a shallow copy: the caller's request keeps its own body
		r2.Body = &observedBody{ReadCloser: r.Body, stream: stream}
		r = &r2
	}
	return &observedWriter{ResponseWriter: w, stream: stream}, r, stream.StreamEnded
}
