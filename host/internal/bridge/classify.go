package bridge

import (
	"errors"
	"io"
	"log/slog"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/streambench/host/internal/files"
)

// Errors an exchange step returns; classify turns each into a failure.
var (
	errNotReady     = errors.New("plugin unavailable (health not SERVING)")
	errBodyTooLarge = errors.New("request body larger than max-body-bytes")
)

// protocolError is a plugin response that breaks the wire contract.
type protocolError string

func (e protocolError) Error() string { return "protocol error: " + string(e) }

// streamError is a failure of the gRPC stream itself (opening it or
// receiving from it), with what this side knew when it broke: if the stream
// context was cancelled, its cause says why (a timeout, a body over the
// limit, the client gone) better than the bare "context canceled" gRPC
// reports.
type streamError struct {
	err        error
	cause      error // the stream context's cancel cause; nil: not cancelled
	clientGone bool  // the request's own context was done
}

func (e *streamError) Error() string { return e.err.Error() }

func (e *streamError) Unwrap() error { return e.err }

// failState is what classify reads: why the exchange stopped and where it
// was then.
type failState struct {
	err         error // what ended the exchange (a *streamError for the stream's own failures)
	readStalled bool  // a request-body read ran into read-progress-timeout
	initApplied bool  // the plugin's response-init was applied (to the client or the buffer)
	committed   bool  // the client has been sent a status line
	head        bool  // a HEAD request
	http1       bool  // the client speaks HTTP/1.x
}

// failure is classify's verdict: everything Bridge.fail needs to end the
// request.
type failure struct {
	status    int        // sent to the client when nothing was committed yet
	reason    string     // short, for the log line
	err       error      // underlying error for the log line, may be nil
	level     slog.Level // ERROR for the plugin's or the host's fault, WARN for the client's
	outcome   Outcome    // for the Observer
	abort     bool       // a status line was sent: panic(http.ErrAbortHandler)
	closeConn bool       // HTTP/1: the connection cannot carry another request
	headEnded bool       // not a failure: a HEAD's headers were its whole response
}

// classify decides, in one place and in this order, what a failed exchange
// means:
//
//  1. what happened: a broken stream is explained by its cancel cause first
//     (the timeout, the body limit, the body read, the client), then by the
//     gRPC status; the exchange's own errors name themselves;
//  2. a HEAD whose headers went out and whose client then left is not a
//     failure at all (HTTP/2 ends the stream with the headers);
//  3. a stalled request-body read comes before anything else that failed
//     with it (the cancelled stream, the request context net/http cancels
//     on a read error): it is what the client did;
//  4. then the consequences: abort once committed, else the status;
//     Connection: close after a stalled HTTP/1 body; WARN when the client
//     caused it; the Observer's outcome.
func classify(s failState) failure {
	var (
		f          failure
		clientSide bool // the client caused it: WARN
		clientGone bool // the client went away or could not be written to: OutcomeClientGone
		clientLeft bool // the request's context ended (the client went away)
		stream     *streamError
		tooLarge   *http.MaxBytesError
		protocol   protocolError
		offload    *offloadError
	)
	isStream := errors.As(s.err, &stream)
	var cause error
	if isStream {
		cause = stream.cause
	}
	switch {
	case cause != nil && errors.Is(cause, errInitTimeout), !isStream && errors.Is(s.err, errInitTimeout):
		f = failure{status: http.StatusGatewayTimeout, reason: errInitTimeout.Error()}
	case cause != nil && errors.As(cause, &tooLarge):
		f = failure{status: http.StatusRequestEntityTooLarge, reason: errBodyTooLarge.Error(), err: cause}
	case cause != nil && errors.Is(cause, errRequestBody):
		f = failure{status: http.StatusBadRequest, reason: errRequestBody.Error(), err: cause}
	case cause != nil && errors.Is(cause, errClientWrite):
		f = failure{status: http.StatusInternalServerError, reason: errClientWrite.Error(), err: cause}
		clientSide, clientGone = true, true
	case cause != nil && stream.clientGone:
		f = failure{status: http.StatusServiceUnavailable, reason: errClientGone.Error(), err: errClientGone}
		clientSide, clientGone, clientLeft = true, true, true
	case isStream && errors.Is(stream.err, io.EOF):
		f = failure{status: http.StatusInternalServerError,
			reason: protocolError("plugin ended the stream without body_complete").Error()}
	case isStream:
		st := status.Convert(stream.err)
		switch {
		case st.Code() == codes.ResourceExhausted:
			f = failure{status: http.StatusInternalServerError, reason: "plugin response message larger than max-message-bytes", err: stream.err}
		case st.Code() == codes.Unavailable && !s.initApplied:
			f = failure{status: http.StatusServiceUnavailable, reason: "plugin unavailable", err: stream.err}
		default:
			f = failure{status: http.StatusInternalServerError, reason: "plugin failed (" + st.Code().String() + ")", err: stream.err}
		}
	case errors.Is(s.err, errNotReady):
		f = failure{status: http.StatusServiceUnavailable, reason: errNotReady.Error()}
	case errors.Is(s.err, errBodyTooLarge):
		f = failure{status: http.StatusRequestEntityTooLarge, reason: errBodyTooLarge.Error(), err: s.err}
	case errors.As(s.err, &protocol):
		f = failure{status: http.StatusInternalServerError, reason: protocol.Error()}
	case errors.Is(s.err, errOffloadOff):
		f = failure{status: http.StatusInternalServerError, reason: errOffloadOff.Error()}
	case errors.As(s.err, &offload):
		f = failure{status: files.Status(offload.err), reason: "file offload: " + files.Reason(offload.err), err: offload}
	case errors.Is(s.err, errFileShort):
		f = failure{status: http.StatusInternalServerError, reason: errFileShort.Error(), err: s.err}
	case errors.Is(s.err, errWriteStalled):
		f = failure{status: http.StatusInternalServerError, reason: errWriteStalled.Error(), err: s.err}
		clientSide = true
	case errors.Is(s.err, errClientWrite):
		f = failure{status: http.StatusInternalServerError, reason: errClientWrite.Error(), err: s.err}
		clientSide, clientGone = true, true
	default:
		f = failure{status: http.StatusInternalServerError, reason: "internal error", err: s.err}
	}

	if s.head && s.committed && clientLeft {
		return failure{headEnded: true, outcome: OutcomeOK}
	}
	if s.readStalled {
		f = failure{status: http.StatusRequestTimeout, reason: errReadStalled.Error(), err: errReadStalled}
		clientSide, clientGone = true, false
		f.closeConn = !s.committed && s.http1
	}

	f.abort = s.committed
	f.level = slog.LevelError
	if clientSide {
		f.level = slog.LevelWarn
	}
	switch {
	case clientGone:
		f.outcome = OutcomeClientGone
	case s.committed:
		f.outcome = OutcomeAborted
	default:
		f.outcome = OutcomeError
	}
	return f
}
