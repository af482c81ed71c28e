package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

// requestPump sends the request to the plugin: init first (with
// body_complete on it when there is no body), then body_chunk messages of at
// most chunkBytes, then body_complete. It runs beside the response loop (full
// duplex) and never sends body_complete for a body it could not read to the
// end, so the plugin cannot mistake a truncated upload for a whole one: it
// cancels the stream instead.
//
// Two goroutines share a bodyQueue: the reader calls body.Read, the sender
// calls stream.Send. A short Read (HTTP/1 bodies return at most what the
// socket holds, or one chunked-encoding chunk, often 16-64 KiB) is sent at
// once when the sender is idle, so a full-duplex client waiting for its echo
// never waits for a fuller buffer; while a Send is in progress the reader keeps
// appending, so under load messages fill up to chunkBytes. The plugin's cost
// is per message, which makes that coalescing worth ~2x upload throughput.
type requestPump struct {
	done chan struct{}

	mu      sync.Mutex
	halted  bool // no further body.Read may start
	reading bool // inside body.Read now
	ended   bool // body.Read returned an error (io.EOF included): nothing left to wake
}

func startRequestPump(ctx context.Context, cancel context.CancelCauseFunc,
	stream grpc.BidiStreamingClient[pb.ServeHTTPRequest, pb.ServeHTTPResponse],
	init *pb.ServeHTTPRequestInit, body io.Reader, chunkBytes int, contentLength int64,
) *requestPump {
	p := &requestPump{done: make(chan struct{})}
	if contentLength > 0 && contentLength < int64(chunkBytes) {
		chunkBytes = int(contentLength) // a small body needs no chunk-sized buffer
	}
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
		p.mu.Lock()
		p.ended = true
		p.mu.Unlock()
		if stream.Send(&pb.ServeHTTPRequest{Init: init, BodyComplete: true}) == nil {
			_ = stream.CloseSend()
		}
		return
	}
	if stream.Send(&pb.ServeHTTPRequest{Init: init}) != nil {
		return
	}
	q := newBodyQueue(chunkBytes)
	defer q.release() // after the sender and the reader are done with the buffers
	stopWaking := context.AfterFunc(ctx, q.stop)
	defer stopWaking()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		defer q.stop() // a failed Send ends the reading too
		q.sendAll(stream)
	}()
	defer func() { <-sent }()

	for {
		region := q.writable()
		if region == nil {
			return // stopped: the sender failed or the stream was cancelled
		}
		n, err := p.read(body, region)
		switch {
		case err == nil:
			q.commit(n, nil)
		case errors.Is(err, io.EOF):
			q.commit(n, io.EOF) // the sender sends the rest, then body_complete
			return
		case ctx.Err() != nil:
			q.stop()
			return // stopped by the response side; not the client's fault
		default:
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				cancel(tooLarge)
			} else {
				cancel(fmt.Errorf("%w: %w", errRequestBody, err))
			}
			q.stop()
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
	p.ended = p.ended || err != nil
	p.mu.Unlock()
	return n, err
}

// haltReads forbids further reads and reports whether the body may still
// need waking: a read is in progress, or the body was never read to its end
// (the pump may be on its way into a read; closing an abandoned body is
// harmless).
func (p *requestPump) haltReads() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.halted = true
	return p.reading || !p.ended
}

func (p *requestPump) finished() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// bodyQueue is two chunk-sized buffers between the body reader and the
// stream sender (bounded memory: 2 x chunkBytes per upload). The reader
// appends to bufs[fill]; the sender sends bufs[send][sent:filled[send]]. The
// sender may send the filled front of the buffer the reader is still reading
// into: the two touch disjoint bytes. The reader moves to the other buffer
// only when its own is full and the sender has left the other one.
type bodyQueue struct {
	mu     sync.Mutex
	cond   sync.Cond
	bufs   [2][]byte
	filled [2]int
	fill   int   // buffer the reader appends to
	send   int   // buffer the sender drains
	sent   int   // bytes of bufs[send] already sent
	end    error // io.EOF once the whole body is in the buffers
	halted bool  // stop: nobody reads or sends any more
}

func newBodyQueue(chunkBytes int) *bodyQueue {
	q := &bodyQueue{}
	q.cond.L = &q.mu
	// The second buffer is only needed once the first one fills up, which
	// small bodies never do.
	q.bufs[0] = getChunkBuffer(chunkBytes)
	return q
}

// release returns the buffers to their pool; the queue is unusable after.
func (q *bodyQueue) release() {
	for i, buf := range q.bufs {
		if buf != nil {
			putChunkBuffer(buf)
			q.bufs[i] = nil
		}
	}
}

// chunkBuffers holds the upload buffers, in tiers of every power of two from
// 4 KiB to 16 MiB, so an upload takes a buffer of the tier just above its
// chunk size (never a much larger one) and does not allocate a fresh (up to
// 1 MiB) buffer per request; larger chunks come from the pool's fallback.
var chunkBuffers = mem.NewTieredBufferPool(chunkBufferTiers()...)

func chunkBufferTiers() []int {
	var tiers []int
	for size := 4 << 10; size <= 16<<20; size <<= 1 {
		tiers = append(tiers, size)
	}
	return tiers
}

func getChunkBuffer(size int) []byte { return *chunkBuffers.Get(size) }

func putChunkBuffer(buf []byte) { chunkBuffers.Put(&buf) }

// writable returns the free tail of the reader's buffer, waiting while both
// buffers are full, or nil once the queue is stopped.
func (q *bodyQueue) writable() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.halted && q.filled[q.fill] == len(q.bufs[q.fill]) {
		if q.send == q.fill { // the other buffer is drained: reuse it
			q.fill ^= 1
			if q.bufs[q.fill] == nil {
				q.bufs[q.fill] = getChunkBuffer(len(q.bufs[0]))
			}
			q.filled[q.fill] = 0
			break
		}
		q.cond.Wait()
	}
	if q.halted {
		return nil
	}
	return q.bufs[q.fill][q.filled[q.fill]:]
}

// commit publishes n more bytes read into the region writable returned, and
// the end of the body when end is io.EOF.
func (q *bodyQueue) commit(n int, end error) {
	q.mu.Lock()
	q.filled[q.fill] += n
	q.end = end
	q.cond.Broadcast()
	q.mu.Unlock()
}

func (q *bodyQueue) stop() {
	q.mu.Lock()
	q.halted = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// next waits for unsent bytes and returns them, or nil with the end of the
// body (io.EOF) or nil when stopped.
func (q *bodyQueue) next() ([]byte, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.halted {
		if q.sent < q.filled[q.send] {
			return q.bufs[q.send][q.sent:q.filled[q.send]], nil
		}
		if q.send != q.fill { // drained a full buffer; the reader is on the other one
			q.send, q.sent = q.fill, 0
			q.cond.Broadcast()
			continue
		}
		if q.end != nil {
			return nil, q.end
		}
		q.cond.Wait()
	}
	return nil, nil
}

// sendAll sends everything the reader commits, then body_complete at the end
// of the body. It returns when stopped or when a Send fails.
func (q *bodyQueue) sendAll(stream grpc.BidiStreamingClient[pb.ServeHTTPRequest, pb.ServeHTTPResponse]) {
	msg := new(pb.ServeHTTPRequest)
	for {
		chunk, end := q.next()
		if chunk == nil {
			if errors.Is(end, io.EOF) && stream.Send(&pb.ServeHTTPRequest{BodyComplete: true}) == nil {
				_ = stream.CloseSend()
			}
			return
		}
		// Send serialises msg before returning, so the bytes are reusable.
		msg.BodyChunk = chunk
		if stream.Send(msg) != nil {
			return
		}
		q.mu.Lock()
		q.sent += len(chunk)
		q.cond.Broadcast()
		q.mu.Unlock()
	}
}
