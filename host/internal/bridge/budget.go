package bridge

import (
	"context"
	"net/http"
	"sync/atomic"

	"golang.org/x/sync/semaphore"

	"github.com/streambench/host/internal/pluginconn"
)

// Budget bounds the request and response body bytes the host holds for all
// streams together. Each stream reserves what it can hold at most before it
// opens its plugin stream, and gives it back when it ends:
//
//   - every stream: the HTTP/2 window towards the plugin (grpc-go reads a
//     stream's data off the connection into a per-stream buffer as soon as
//     it arrives and credits the connection window then, so only the stream
//     window bounds a download whose client is slower than the plugin) plus
//     one response message being decoded;
//   - a request with a body: the request pump's two chunk buffers and the
//     encoded message grpc-go holds until HTTP/2 flow control lets it go.
//
// When the budget is used up, new streams wait (FIFO) until earlier ones end,
// so backpressure reaches their clients through TCP; nothing is buffered
// beyond it and nothing is rejected for it (admission control decides how
// many may wait).
type Budget struct {
	sem   *semaphore.Weighted
	size  int64
	inUse atomic.Int64
}

// NewBudget returns a budget of size bytes (at least 1).
func NewBudget(size int64) *Budget {
	size = max(size, 1)
	return &Budget{sem: semaphore.NewWeighted(size), size: size}
}

// Bytes is the budget's size.
func (b *Budget) Bytes() int64 { return b.size }

// InUse is the bytes reserved by streams now.
func (b *Budget) InUse() int64 { return b.inUse.Load() }

// reserve waits for n bytes (capped at the budget, so an oversized stream
// runs alone rather than never) until ctx ends; release gives them back.
func (b *Budget) reserve(ctx context.Context, n int64) (release func(), err error) {
	n = min(max(n, 1), b.size)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return nil, err
	}
	b.inUse.Add(n)
	return func() {
		b.inUse.Add(-n)
		b.sem.Release(n)
	}, nil
}

// streamReserveBytes is what one exchange of r can hold at most (see Budget).
func (b *Bridge) streamReserveBytes(r *http.Request) int64 {
	window := b.WindowBytes
	if window <= 0 {
		window = pluginconn.DefaultWindowBytes
	}
	n := window + int64(b.maxResponseChunkBytes())
	if hasBody(r.Body) {
		chunk := int64(b.requestChunkBytes())
		if r.ContentLength > 0 && r.ContentLength < chunk {
			chunk = r.ContentLength // the pump sizes its buffer to a small body
		}
		n += 3 * chunk
	}
	return n
}

// maxResponseChunkBytes is the response message size the reservation counts:
// the plugin's 1 MiB default, or less when messages are capped below it.
func (b *Bridge) maxResponseChunkBytes() int {
	return min(b.maxMessageBytes(), DefaultRequestChunkBytes)
}

// PerStreamBytes is what a download-only stream reserves with these
// settings: the unit for sizing the number of streams a budget admits.
func (b *Bridge) PerStreamBytes() int64 {
	return b.streamReserveBytes(&http.Request{Body: http.NoBody})
}
