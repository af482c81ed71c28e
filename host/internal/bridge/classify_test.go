package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestClassify: every way an exchange fails, with what the client gets
// (status or abort), the log line's reason and level, the Observer's outcome
// and whether the connection closes.
func TestClassify(t *testing.T) {
	canceled := status.Error(codes.Canceled, "context canceled")
	broke := func(err, cause error, clientGone bool) error {
		return &streamError{err: err, cause: cause, clientGone: clientGone}
	}
	const (
		warnLevel = slog.LevelWarn
		errLevel  = slog.LevelError
	)
	for _, tc := range []struct {
		name  string
		state failState
		want  failure // err is not compared; see wantErr
		// wantErr: the log line's err is nil (false) or set (true).
		wantErr bool
	}{
		{name: "health not SERVING", state: failState{err: errNotReady},
			want: failure{status: 503, reason: "plugin unavailable (health not SERVING)", level: errLevel, outcome: OutcomeError}},
		{name: "declared Content-Length over the limit", state: failState{err: fmt.Errorf("%w: Content-Length 11 > 10", errBodyTooLarge)},
			want: failure{status: 413, reason: "request body larger than max-body-bytes", level: errLevel, outcome: OutcomeError}, wantErr: true},
		{name: "init timer fired as the init arrived", state: failState{err: errInitTimeout},
			want: failure{status: 504, reason: errInitTimeout.Error(), level: errLevel, outcome: OutcomeError}},
		{name: "stream cancelled by the init timeout", state: failState{err: broke(canceled, errInitTimeout, false)},
			want: failure{status: 504, reason: errInitTimeout.Error(), level: errLevel, outcome: OutcomeError}},
		{name: "stream cancelled: body grew past the limit", state: failState{err: broke(canceled, &http.MaxBytesError{Limit: 10}, false)},
			want: failure{status: 413, reason: "request body larger than max-body-bytes", level: errLevel, outcome: OutcomeError}, wantErr: true},
		{name: "same, after response-init", state: failState{err: broke(canceled, &http.MaxBytesError{Limit: 10}, false), initApplied: true, committed: true},
			want: failure{status: 413, reason: "request body larger than max-body-bytes", level: errLevel, outcome: OutcomeAborted, abort: true}, wantErr: true},
		{name: "stream cancelled: body read failed", state: failState{err: broke(canceled, fmt.Errorf("%w: %w", errRequestBody, io.ErrUnexpectedEOF), false)},
			want: failure{status: 400, reason: errRequestBody.Error(), level: errLevel, outcome: OutcomeError}, wantErr: true},
		{name: "stream cancelled: client write failed", state: failState{err: broke(canceled, errClientWrite, false), initApplied: true, committed: true},
			want: failure{status: 500, reason: errClientWrite.Error(), level: warnLevel, outcome: OutcomeClientGone, abort: true}, wantErr: true},
		{name: "client went away before init", state: failState{err: broke(canceled, context.Canceled, true)},
			want: failure{status: 503, reason: errClientGone.Error(), level: warnLevel, outcome: OutcomeClientGone}, wantErr: true},
		{name: "client went away after init", state: failState{err: broke(canceled, context.Canceled, true), initApplied: true, committed: true},
			want: failure{status: 503, reason: errClientGone.Error(), level: warnLevel, outcome: OutcomeClientGone, abort: true}, wantErr: true},
		{name: "HEAD answered, then its stream ended", state: failState{err: broke(canceled, context.Canceled, true), initApplied: true, committed: true, head: true},
			want: failure{headEnded: true, outcome: OutcomeOK}},
		{name: "HEAD whose client left before init is still a failure", state: failState{err: broke(canceled, context.Canceled, true), head: true},
			want: failure{status: 503, reason: errClientGone.Error(), level: warnLevel, outcome: OutcomeClientGone}, wantErr: true},
		{name: "cancelled for another reason: the gRPC status decides", state: failState{err: broke(canceled, errResponseEnded, false)},
			want: failure{status: 500, reason: "plugin failed (Canceled)", level: errLevel, outcome: OutcomeError}, wantErr: true},
		{name: "stream ended without body_complete", state: failState{err: broke(io.EOF, nil, false), initApplied: true, committed: true},
			want: failure{status: 500, reason: "protocol error: plugin ended the stream without body_complete", level: errLevel, outcome: OutcomeAborted, abort: true}},
		{name: "message over max-message-bytes", state: failState{err: broke(status.Error(codes.ResourceExhausted, "too big"), nil, false)},
			want: failure{status: 500, reason: "plugin response message larger than max-message-bytes", level: errLevel, outcome: OutcomeError}, wantErr: true},
		{name: "Unavailable before init", state: failState{err: broke(status.Error(codes.Unavailable, "down"), nil, false)},
			want: failure{status: 503, reason: "plugin unavailable", level: errLevel, outcome: OutcomeError}, wantErr: true},
		{name: "Unavailable after init", state: failState{err: broke(status.Error(codes.Unavailable, "down"), nil, false), initApplied: true, committed: true},
			want: failure{status: 500, reason: "plugin failed (Unavailable)", level: errLevel, outcome: OutcomeAborted, abort: true}, wantErr: true},
		{name: "Unavailable after init, buffered (nothing committed)", state: failState{err: broke(status.Error(codes.Unavailable, "down"), nil, false), initApplied: true},
			want: failure{status: 500, reason: "plugin failed (Unavailable)", level: errLevel, outcome: OutcomeError}, wantErr: true},
		{name: "plugin raised", state: failState{err: broke(status.Error(codes.Internal, "boom"), nil, false)},
			want: failure{status: 500, reason: "plugin failed (Internal)", level: errLevel, outcome: OutcomeError}, wantErr: true},
		{name: "protocol error before init", state: failState{err: protocolError("invalid status code 42 (want 100..999)")},
			want: failure{status: 500, reason: "protocol error: invalid status code 42 (want 100..999)", level: errLevel, outcome: OutcomeError}},
		{name: "protocol error after init", state: failState{err: protocolError("second response-init"), initApplied: true, committed: true},
			want: failure{status: 500, reason: "protocol error: second response-init", level: errLevel, outcome: OutcomeAborted, abort: true}},
		{name: "client write failed", state: failState{err: errors.Join(errClientWrite, errors.New("broken pipe")), initApplied: true, committed: true},
			want: failure{status: 500, reason: errClientWrite.Error(), level: warnLevel, outcome: OutcomeClientGone, abort: true}, wantErr: true},
		{name: "client stopped reading", state: failState{err: errors.Join(errWriteStalled, errors.New("i/o timeout")), initApplied: true, committed: true},
			want: failure{status: 500, reason: errWriteStalled.Error(), level: warnLevel, outcome: OutcomeAborted, abort: true}, wantErr: true},
		{name: "stalled body read outranks what followed, HTTP/1", state: failState{err: broke(canceled, context.Canceled, true), readStalled: true, http1: true},
			want: failure{status: 408, reason: errReadStalled.Error(), level: warnLevel, outcome: OutcomeError, closeConn: true}, wantErr: true},
		{name: "stalled body read, h2", state: failState{err: broke(canceled, fmt.Errorf("%w: timeout", errRequestBody), false), readStalled: true},
			want: failure{status: 408, reason: errReadStalled.Error(), level: warnLevel, outcome: OutcomeError}, wantErr: true},
		{name: "stalled body read after init", state: failState{err: broke(canceled, context.Canceled, true), readStalled: true, http1: true, initApplied: true, committed: true},
			want: failure{status: 408, reason: errReadStalled.Error(), level: warnLevel, outcome: OutcomeAborted, abort: true}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.state)
			if (got.err != nil) != tc.wantErr {
				t.Errorf("err = %v, want set: %v", got.err, tc.wantErr)
			}
			got.err = nil
			if got != tc.want {
				t.Errorf("classify = %+v\n          want %+v", got, tc.want)
			}
		})
	}
}
