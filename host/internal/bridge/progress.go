package bridge

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// Causes for ending an exchange because the client stopped moving bytes.
var (
	errReadStalled  = errors.New("client sent no request body bytes within read-progress-timeout")
	errWriteStalled = errors.New("client read no response bytes within write-progress-timeout")
)

// DefaultWritePieceBytes is the most written to the client under one write
// deadline (Bridge.WritePieceBytes). A response chunk (up to
// --max-message-bytes, 1 MiB by default) is written in pieces of this size,
// so a client that reads at least this much per write-progress-timeout is
// never cut, however long the whole response takes, while one that stops
// reading is. Each piece is a write system call (or a sendfile): 256 KiB
// cost the host about a fifth less CPU per byte than 64 KiB on downloads
// (docs/decisions.md), and asks a client for 256 KiB per 30 s (8.7 KB/s).
const DefaultWritePieceBytes = 256 << 10

// rearmFraction: while one write is in progress (a chunk in pieces), a
// deadline armed less than timeout/rearmFraction ago is not moved again:
// each piece still gets at least 15/16 of the timeout, and the deadline (a
// message to the connection's goroutine on HTTP/2) is touched a few times
// per chunk instead of per piece.
const rearmFraction = 16

// clientDeadlines bounds how long one read of the request body or one write
// of the response may wait for the client, through the connection deadlines
// of http.ResponseController. A deadline is armed only while a read or a
// write is in progress (on HTTP/2 it fires on its own and ends the stream),
// and each one arms it anew, so the deadline moves forward as long as bytes
// move: slow but steady transfers of any length pass, a client that stops
// for the whole timeout gets its stream ended (408 before response-init, an
// abort after). Time spent waiting for the plugin never counts.
type clientDeadlines struct {
	rc           *http.ResponseController
	readTimeout  time.Duration // zero: no read deadline
	writeTimeout time.Duration // zero: no write deadline

	mu           sync.Mutex // the read state: the pump reads, the response side halts
	readsHalted  bool       // haltReads was called: no read may move the deadline
	readStalled  bool       // a body read ran into its deadline
	readDeadline time.Time  // the progress deadline of the read in flight (zero: none)

	// The response goroutine alone writes.
	writePiece    int       // bytes written under one deadline (DefaultWritePieceBytes when 0)
	writeArmed    time.Time // zero: no write deadline armed
	writeDeadline time.Time
}

// piece is how much one write to the client may carry under its deadline.
func (d *clientDeadlines) piece() int {
	if d.writePiece > 0 {
		return d.writePiece
	}
	return DefaultWritePieceBytes
}

// beginRead gives the body read about to start readTimeout to return at
// least one byte. It reports false once haltReads was called: the read must
// not start.
func (d *clientDeadlines) beginRead() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.readsHalted {
		return false
	}
	if d.readTimeout > 0 {
		d.readDeadline = time.Now().Add(d.readTimeout)
		_ = d.rc.SetReadDeadline(d.readDeadline)
	}
	return true
}

// endRead disarms the deadline after a read (the pump may now wait for the
// plugin as long as it likes) and records a stall: a deadline error that
// haltReads did not cause.
func (d *clientDeadlines) endRead(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.readTimeout <= 0 {
		return
	}
	// A stall even when haltReads came first: on HTTP/1 the failed read
	// cancels the request context, and the response side may stop the pump
	// before this read returns. The progress deadline having passed is what
	// tells it from haltReads' own deadline in the past.
	deadline := d.readDeadline
	d.readDeadline = time.Time{}
	if errors.Is(err, os.ErrDeadlineExceeded) && !deadline.IsZero() && !time.Now().Before(deadline) {
		d.readStalled = true
		return
	}
	if d.readsHalted {
		return
	}
	_ = d.rc.SetReadDeadline(time.Time{})
}

// haltReads wakes a body read in progress (no context reaches one) with a
// deadline in the past, and keeps any later read from moving it again.
func (d *clientDeadlines) haltReads() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.readsHalted = true
	_ = d.rc.SetReadDeadline(time.Now())
}

// stalledReading reports whether a body read ran into its deadline.
func (d *clientDeadlines) stalledReading() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.readStalled
}

// armWrite gives the next write or flush to the client writeTimeout to
// complete; writesDone disarms it.
func (d *clientDeadlines) armWrite() {
	if d.writeTimeout <= 0 {
		return
	}
	now := time.Now()
	if !d.writeArmed.IsZero() && now.Sub(d.writeArmed) < d.writeTimeout/rearmFraction {
		return
	}
	d.writeArmed = now
	d.writeDeadline = now.Add(d.writeTimeout)
	_ = d.rc.SetWriteDeadline(d.writeDeadline)
}

// writesDone disarms the write deadline while the exchange waits for the
// plugin's next message.
func (d *clientDeadlines) writesDone() {
	if d.writeArmed.IsZero() {
		return
	}
	d.writeArmed = time.Time{}
	_ = d.rc.SetWriteDeadline(time.Time{})
}

// writeStalled reports whether a failed write or flush ran into its
// deadline. HTTP/1 says so in the error; HTTP/2 resets the stream and
// reports that instead, so the clock decides too.
func (d *clientDeadlines) writeStalled(err error) bool {
	if d.writeTimeout <= 0 || d.writeArmed.IsZero() {
		return false
	}
	return errors.Is(err, os.ErrDeadlineExceeded) || !time.Now().Before(d.writeDeadline)
}

// progressReader is the request body with a read deadline armed during
// every Read.
type progressReader struct {
	io.ReadCloser
	deadlines *clientDeadlines
}

func (r progressReader) Read(p []byte) (int, error) {
	if !r.deadlines.beginRead() {
		return 0, errResponseEnded
	}
	n, err := r.ReadCloser.Read(p)
	r.deadlines.endRead(err)
	return n, err
}

// progressWriter is the client's ResponseWriter writing in pieces of at
// most the deadlines' piece, with the write deadline armed before each.
type progressWriter struct {
	http.ResponseWriter
	deadlines *clientDeadlines
}

func (w progressWriter) Write(p []byte) (int, error) {
	if w.deadlines.writeTimeout <= 0 {
		return w.ResponseWriter.Write(p)
	}
	written := 0
	for len(p) > 0 {
		w.deadlines.armWrite()
		n, err := w.ResponseWriter.Write(p[:min(len(p), w.deadlines.piece())])
		written += n
		if err != nil {
			return written, err
		}
		if n == 0 {
			return written, io.ErrShortWrite
		}
		p = p[n:]
	}
	return written, nil
}

// ReadFrom copies src to the client through the writer's own ReadFrom when it
// has one (net/http's: sendfile from a file to a TCP connection), in pieces
// of at most the deadlines' piece with the write deadline armed before each,
// like Write. A source limited with io.LimitedReader (io.CopyN's) stays one
// LimitedReader over the same reader per piece, which is the shape net's
// sendfile recognises.
func (w progressWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(writerOnly{w}, src)
	}
	if w.deadlines.writeTimeout <= 0 {
		return rf.ReadFrom(src)
	}
	limited, isLimited := src.(*io.LimitedReader)
	if !isLimited {
		limited = &io.LimitedReader{R: src, N: 1<<63 - 1}
	}
	var written int64
	for limited.N > 0 {
		w.deadlines.armWrite()
		piece := &io.LimitedReader{R: limited.R, N: min(limited.N, int64(w.deadlines.piece()))}
		n, err := rf.ReadFrom(piece)
		written += n
		limited.N -= n
		if err != nil || n == 0 {
			return written, err // n == 0: the source ended
		}
	}
	return written, nil
}

// writerOnly hides every method but Write, so io.Copy does not call back
// into the ReadFrom that uses it.
type writerOnly struct{ io.Writer }
