package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"google.golang.org/grpc"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

// requestPump sends the request to the plugin: init first (with
// body_complete on it when there is no body), then one body_chunk per body
// Read of at most chunkBytes, then body_complete. It runs beside the response
// loop (full duplex) and never sends body_complete for a body it could not
// read to the end, so the plugin cannot mistake a truncated upload for a
// whole one: it cancels the stream instead.
type requestPump struct {
	done chan struct{}

	mu      sync.Mutex
	halted  bool // no further body.Read may start
	reading bool // inside body.Read now
}

func startRequestPump(ctx context.Context, cancel context.CancelCauseFunc,
	stream grpc.BidiStreamingClient[pb.ServeHTTPRequest, pb.ServeHTTPResponse],
	init *pb.ServeHTTPRequestInit, body io.Reader, chunkBytes int,
) *requestPump {
	p := &requestPump{done: make(chan struct{})}
	go p.run(ctx, cancel, stream, init, body, chunkBytes)
	return p
}

func (p *requestPump) run(ctx context.Context, cancel context.CancelCauseFunc,
	stream grpc.BidiStreamingClient[pb.ServeHTTPRequest, pb.ServeHTTPResponse],
	init *pb.ServeHTTPRequestInit, body io.Reader, chunkBytes int,
) {
	defer close(p.done)
	// Send errors need no handling here: the stream is over, and the
	// response loop's Recv reports why.
	if body == nil || body == http.NoBody {
		if stream.Send(&pb.ServeHTTPRequest{Init: init, BodyComplete: true}) == nil {
			_ = stream.CloseSend()
		}
		return
	}
	if stream.Send(&pb.ServeHTTPRequest{Init: init}) != nil {
		return
	}
	buf := make([]byte, chunkBytes)
	msg := new(pb.ServeHTTPRequest)
	for {
		n, err := p.read(body, buf)
		if n > 0 {
			// Send serialises msg before returning, so buf is reusable.
			msg.BodyChunk = buf[:n]
			if stream.Send(msg) != nil {
				return
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			if stream.Send(&pb.ServeHTTPRequest{BodyComplete: true}) == nil {
				_ = stream.CloseSend()
			}
			return
		case ctx.Err() != nil:
			return // stopped by the response side; not the client's fault
		default:
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				cancel(tooLarge)
			} else {
				cancel(fmt.Errorf("%w: %w", errRequestBody, err))
			}
			return
		}
	}
}

// read is body.Read guarded so haltReads can tell whether the pump is (or
// could still get) stuck inside it.
func (p *requestPump) read(body io.Reader, buf []byte) (int, error) {
	p.mu.Lock()
	if p.halted {
		p.mu.Unlock()
		return 0, errResponseEnded
	}
	p.reading = true
	p.mu.Unlock()
	n, err := body.Read(buf)
	p.mu.Lock()
	p.reading = false
	p.mu.Unlock()
	return n, err
}

// haltReads forbids further reads and reports whether one is in progress.
func (p *requestPump) haltReads() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.halted = true
	return p.reading
}

func (p *requestPump) finished() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}
