package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

// Causes for cancelling a stream, read back with context.Cause to tell the
// client why (504, 413, ...) instead of a bare "context canceled".
var (
	errInitTimeout   = errors.New("no response-init within plugin-timeout")
	errRequestBody   = errors.New("reading the request body failed")
	errClientWrite   = errors.New("writing the response to the client failed")
	errClientGone    = errors.New("client went away")
	errResponseEnded = errors.New("response ended")
	errEndGrace      = errors.New("plugin did not end its stream after body_complete")
)

// responseState is where the exchange is in the plugin's response.
type responseState int

const (
	// awaitingInit: nothing sent to the client yet; failures answer with a status.
	awaitingInit responseState = iota
	// streamingBody: response-init applied; failures abort the response.
	streamingBody
	// awaitingFile: response-init named a file (X-Sendfile) and was held
	// back; nothing sent yet, only body_complete may follow.
	awaitingFile
	// complete: body_complete seen; only the end of the stream may follow.
	complete
)

// exchange is one HTTP request bridged over one ServeHTTP stream.
type exchange struct {
	b  *Bridge
	w  http.ResponseWriter // the client's writer
	r  *http.Request
	rc *http.ResponseController // on w: flush, full duplex, read deadline

	// out receives the plugin's response: w itself, or buffer in Buffered mode.
	out    http.ResponseWriter
	buffer *bufferedResponse

	state          responseState
	status         int // the status response-init applied
	flushEachChunk bool
	file           *offload // X-Sendfile: the file to serve once the stream has ended

	deadlines        *clientDeadlines
	droppedBodyBytes int64 // body bytes a status without a body had no room for

	ctx       context.Context
	cancel    context.CancelCauseFunc
	stream    grpc.BidiStreamingClient[pb.ServeHTTPRequest, pb.ServeHTTPResponse]
	initTimer *time.Timer
}

func newExchange(b *Bridge, w http.ResponseWriter, r *http.Request) *exchange {
	rc := http.NewResponseController(w)
	deadlines := &clientDeadlines{rc: rc, readTimeout: b.ReadProgressTimeout, writeTimeout: b.WriteProgressTimeout, writePiece: b.WritePieceBytes}
	ex := &exchange{b: b, w: w, r: r, rc: rc, out: progressWriter{w, deadlines}, deadlines: deadlines}
	if b.Buffered {
		ex.buffer = newBufferedResponse()
		ex.out = ex.buffer
	}
	return ex
}

// committed reports whether the client has been sent a status line, after
// which the only honest failure is an aborted response.
func (ex *exchange) committed() bool {
	if ex.file != nil {
		return ex.file.committed()
	}
	return ex.buffer == nil && ex.state != awaitingInit
}

// run opens the stream, pumps the request and applies the response. A nil
// result means the response is complete (Buffered: held in ex.buffer); an
// error is for classify.
func (ex *exchange) run() error {
	b, r := ex.b, ex.r
	if b.Ready != nil && !b.Ready() {
		return errNotReady
	}
	body := r.Body
	if b.MaxBodyBytes > 0 {
		if r.ContentLength > b.MaxBodyBytes {
			return fmt.Errorf("%w: Content-Length %d > %d", errBodyTooLarge, r.ContentLength, b.MaxBodyBytes)
		}
		if hasBody(body) {
			// The server's own writer: net/http then closes the connection
			// after the 413 instead of draining the rest of the body.
			body = http.MaxBytesReader(unobserved(ex.w), body, b.MaxBodyBytes)
		}
	}
	if hasBody(body) {
		body = progressReader{body, ex.deadlines}
	}
	// HTTP/1 servers otherwise drain the request body before the first
	// response write, which would serialise upload and download.
	_ = ex.rc.EnableFullDuplex()

	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	ex.ctx, ex.cancel = ctx, cancel
	if b.InitTimeout > 0 {
		ex.initTimer = time.AfterFunc(b.InitTimeout, func() { cancel(errInitTimeout) })
		defer ex.initTimer.Stop()
	}
	stream, err := b.Plugin.ServeHTTP(ctx, grpc.MaxCallRecvMsgSize(b.maxMessageBytes()),
		grpc.ForceCodecV2(newResponseCodec()))
	if err != nil {
		return ex.streamFailed(err)
	}
	ex.stream = stream
	pump := startRequestPump(ctx, cancel, stream, requestInit(r, b.Files != nil), body, b.requestChunkBytes(), r.ContentLength)
	defer ex.stopPump(pump, body)
	return ex.receive()
}

// receive is the response state machine: awaitingInit -> streamingBody ->
// complete, then the end of the stream.
func (ex *exchange) receive() error {
	var received pooledResponse
	defer received.release()
	for ex.state != complete {
		if err := ex.stream.RecvMsg(&received); err != nil {
			return ex.streamFailed(err)
		}
		if err := ex.apply(&received.msg); err != nil {
			return err
		}
	}
	return ex.awaitEnd()
}

// apply handles one plugin message in order: init, body, flush, complete.
func (ex *exchange) apply(msg *pb.ServeHTTPResponse) error {
	defer ex.deadlines.writesDone()
	switch ex.state {
	case awaitingInit:
		if ex.initTimer != nil && !ex.initTimer.Stop() {
			return errInitTimeout
		}
		// Invariant 1: a first message without init is an implicit init (200).
		if err := ex.applyInit(msg.GetInit()); err != nil {
			return err
		}
		ex.state = streamingBody
		if ex.file != nil {
			ex.state = awaitingFile
		}
	case streamingBody, awaitingFile:
		if msg.GetInit() != nil {
			return protocolError("second response-init")
		}
	}
	chunk := msg.GetBodyChunk()
	if ex.state == awaitingFile {
		if len(chunk) > 0 {
			return protocolError("body_chunk beside " + SendfileHeader + " (an offloaded response has no body)")
		}
		if msg.GetBodyComplete() {
			ex.state = complete
		}
		return nil
	}
	if len(chunk) > 0 {
		if err := ex.writeBody(chunk); err != nil {
			return err
		}
	}
	if msg.GetFlush() || (ex.flushEachChunk && len(chunk) > 0) {
		if err := ex.flush(); err != nil {
			return err
		}
	}
	if msg.GetBodyComplete() {
		ex.state = complete
	}
	return nil
}

// applyInit validates status and headers, then applies them exactly once:
// headers first, then WriteHeader. Nothing reaches the client when invalid.
func (ex *exchange) applyInit(init *pb.ServeHTTPResponseInit) error {
	code := int(init.GetStatusCode())
	if code == 0 {
		code = http.StatusOK
	}
	if code < 100 || code > 999 {
		return protocolError(fmt.Sprintf("invalid status code %d (want 100..999)", code))
	}
	if code == http.StatusSwitchingProtocols {
		return protocolError("invalid status code 101 (a connection upgrade, which ServeHTTP streaming does not support)")
	}
	if err := validateHeaders(init.GetHeaders()); err != nil {
		return protocolError("invalid response header: " + err.Error())
	}
	if file, err := offloadOf(init, code, ex.b.Files != nil); file != nil || err != nil {
		// Held back: the status line goes out when the file is served.
		ex.file, ex.status = file, code
		return err
	}
	h := ex.out.Header()
	for _, hdr := range init.GetHeaders() {
		for _, v := range hdr.GetValues() {
			h.Add(hdr.GetKey(), v)
		}
	}
	ex.flushEachChunk = ex.b.FlushEveryChunk || isEventStream(h.Get("Content-Type"))
	ex.status = code
	ex.out.WriteHeader(code)
	return nil
}

// flush is best effort (invariant 4): a writer without http.Flusher makes it a
// no-op, never a panic. Buffered mode has nothing to push yet.
func (ex *exchange) flush() error {
	if ex.buffer != nil {
		return nil
	}
	ex.deadlines.armWrite()
	err := ex.rc.Flush()
	if err == nil || errors.Is(err, http.ErrNotSupported) {
		return nil
	}
	if ex.r.Method == http.MethodHead {
		// The headers were the whole response; HTTP/2 ended the stream with
		// them, so a later flush reports the stream closed. Nothing is lost.
		return nil
	}
	return ex.clientWriteFailed(err)
}

// awaitEnd reads once more after body_complete: the plugin must end its
// stream (invariant 5). Reading to the end, rather than cancelling, lets the
// plugin's handler finish normally instead of counting as cancelled.
func (ex *exchange) awaitEnd() error {
	grace := time.AfterFunc(ex.b.endGrace(), func() { ex.cancel(errEndGrace) })
	defer grace.Stop()
	var extra pb.ServeHTTPResponse
	err := ex.stream.RecvMsg(&extra)
	switch {
	case err == nil:
		return protocolError("message after body_complete")
	case errors.Is(err, io.EOF):
		return nil
	default:
		// The client already has the whole body; say so and keep it.
		ex.b.logger().Warn("plugin stream ended badly after body_complete",
			"plugin_id", ex.b.PluginID, "path", ex.r.URL.Path, "reason", ex.cancelReason(err), "err", err.Error())
		return nil
	}
}

// streamFailed records a failure of the stream itself (opening or
// receiving) with the stream context's cancel cause at that moment, which
// classify prefers to the bare gRPC error.
func (ex *exchange) streamFailed(err error) error {
	e := &streamError{err: err}
	if ex.ctx != nil && ex.ctx.Err() != nil {
		e.cause = context.Cause(ex.ctx)
		e.clientGone = ex.r.Context().Err() != nil
	}
	return e
}

func (ex *exchange) cancelReason(err error) string {
	if ex.ctx.Err() != nil {
		return context.Cause(ex.ctx).Error()
	}
	return status.Code(err).String()
}

// stopPump ends the request upload once the response is over (early
// response or failure) and waits for the pump, so no goroutine outlives the
// handler and nothing reads r.Body after ServeHTTP returns.
func (ex *exchange) stopPump(pump *requestPump, body io.Closer) {
	if pump.finished() {
		return
	}
	ex.cancel(errResponseEnded) // unblocks a Send waiting for flow control
	if pump.haltReads() {
		// The pump is (or may be about to be) inside body.Read, which no
		// context reaches: a read deadline wakes a net/http body, Close
		// wakes pipes and the rest.
		ex.deadlines.haltReads()
		_ = body.Close()
	}
	select {
	case <-pump.done:
	case <-time.After(DefaultPumpStopTimeout):
		ex.b.logger().Error("request body reader did not stop; leaving it",
			"plugin_id", ex.b.PluginID, "path", ex.r.URL.Path)
	}
}

func isEventStream(contentType string) bool {
	mediaType, _, err := mime.ParseMediaType(contentType)
	return err == nil && mediaType == "text/event-stream"
}

func hasBody(body io.ReadCloser) bool {
	return body != nil && body != http.NoBody
}

// failState is the exchange's state for classify, read after run returned
// (the request pump has stopped, so a stalled body read is known).
func (ex *exchange) failState(err error) failState {
	return failState{
		err:         err,
		readStalled: ex.deadlines.stalledReading(),
		initApplied: ex.state != awaitingInit,
		committed:   ex.committed(),
		head:        ex.r.Method == http.MethodHead,
		http1:       ex.r.ProtoMajor == 1,
	}
}
