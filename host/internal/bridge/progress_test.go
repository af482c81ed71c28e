package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

// Small socket buffers on both sides, so a client that stops reading stops
// the host's writes after a few hundred KiB instead of the several MiB the
// kernel would otherwise soak up.
const testSocketBuffer = 64 << 10

// smallBufferListener gives each accepted connection a small send buffer.
type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(testSocketBuffer)
	}
	return c, err
}

// progressServer serves b over HTTP/1.1 and h2c with small send buffers.
func progressServer(t *testing.T, b http.Handler) *httptest.Server {
	return protocolServer(t, func(l net.Listener) net.Listener { return smallBufferListener{l} }, b)
}

// smallBufferClient has a small receive buffer (set before connect, so the
// advertised window stays small) and speaks HTTP/1.1 or h2c.
func smallBufferClient(t *testing.T, h2c bool) *http.Client {
	t.Helper()
	dialer := &net.Dialer{Control: func(_, _ string, raw syscall.RawConn) error {
		var serr error
		err := raw.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, testSocketBuffer)
		})
		return errors.Join(err, serr)
	}}
	return protocolClient(t, &http.Transport{DialContext: dialer.DialContext}, h2c)
}

var protocols = []struct {
	name string
	h2c  bool
}{{"HTTP/1.1", false}, {"h2c", true}}

// watchCancel runs fn as the plugin and closes the returned channel once the
// plugin's stream context is cancelled (the host gave up on the stream).
func watchCancel(fn pluginFunc) (pluginFunc, <-chan struct{}) {
	cancelled := make(chan struct{})
	var once sync.Once
	return func(s pb.PluginHooks_ServeHTTPServer) error {
		context.AfterFunc(s.Context(), func() { once.Do(func() { close(cancelled) }) })
		return fn(s)
	}, cancelled
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestStalledUploadIsCut: a client that sends 10 bytes of its body and then
// nothing gets 408 (before response-init) or an aborted response (after),
// the plugin's stream is cancelled, the handler returns, and one line says
// why.
func TestStalledUploadIsCut(t *testing.T) {
	for _, proto := range protocols {
		for _, tc := range []struct {
			name      string
			initFirst bool
		}{{"before response-init: 408", false}, {"after response-init: abort", true}} {
			t.Run(proto.name+" "+tc.name, func(t *testing.T) {
				plugin, cancelled := watchCancel(func(s pb.PluginHooks_ServeHTTPServer) error {
					if tc.initFirst {
						if err := s.Send(&pb.ServeHTTPResponse{Init: &pb.ServeHTTPResponseInit{StatusCode: 200}, Flush: true}); err != nil {
							return err
						}
					}
					return drainRequest(false)(s)
				})
				b, logs := newBridge(t, plugin)
				// Long enough that the plugin's init is applied before the
				// stall even on a loaded machine (else 408 where an abort is due).
				b.ReadProgressTimeout = time.Second
				srv := progressServer(t, b)
				pr, pw := io.Pipe()
				go func() { _, _ = pw.Write([]byte("ten bytes!")) }()
				if tc.initFirst {
					// The client's body writer waits on the pipe; end it once the
					// host has given up, or the client would wait forever.
					go func() { <-cancelled; pw.CloseWithError(errors.New("test: client gives up too")) }()
				} else {
					defer pw.Close()
				}
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/upload", pr)
				resp, err := smallBufferClient(t, proto.h2c).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, readErr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if tc.initFirst {
					if resp.StatusCode != 200 || readErr == nil {
						t.Fatalf("status %d, body read err %v: want 200 then an aborted body", resp.StatusCode, readErr)
					}
				} else {
					if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "read-progress-timeout") {
						t.Fatalf("got %d %q, want 408 naming the timeout", resp.StatusCode, body)
					}
					if !proto.h2c && !resp.Close {
						t.Fatal("HTTP/1 connection kept open after a body that never finished")
					}
				}
				waitClosed(t, cancelled, "the plugin's stream to be cancelled")
				waitFor(t, func() bool { return b.Streams.Active() == 0 }, "the handler to return")
				outcome := "outcome=status status=408"
				if tc.initFirst {
					outcome = "outcome=abort"
				}
				mustContain(t, logs, "level=WARN", "path=/upload", "client sent no request body bytes within read-progress-timeout", outcome)
			})
		}
	}
}

// TestStalledReaderIsCut: a client that stops reading the response gets it
// aborted once a write makes no progress for the timeout; the plugin's
// stream is cancelled, and the client can never mistake what it got for
// the whole body.
func TestStalledReaderIsCut(t *testing.T) {
	endless := func(s pb.PluginHooks_ServeHTTPServer) error {
		if _, err := s.Recv(); err != nil {
			return err
		}
		piece := &pb.ServeHTTPResponse{BodyChunk: bytes.Repeat([]byte("x"), 64<<10)}
		if err := s.Send(initMsg(200)); err != nil {
			return err
		}
		for {
			if err := s.Send(piece); err != nil {
				return err
			}
		}
	}
	for _, proto := range protocols {
		t.Run(proto.name, func(t *testing.T) {
			plugin, cancelled := watchCancel(endless)
			b, logs := newBridge(t, plugin)
			b.WriteProgressTimeout = 200 * time.Millisecond
			srv := progressServer(t, b)
			resp, err := smallBufferClient(t, proto.h2c).Get(srv.URL + "/download")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			// Read nothing until the host gave up.
			waitClosed(t, cancelled, "the plugin's stream to be cancelled")
			waitFor(t, func() bool { return b.Streams.Active() == 0 }, "the handler to return")
			mustContain(t, logs, "level=WARN", "path=/download", "client read no response bytes within write-progress-timeout", "outcome=abort")
			if n, err := io.Copy(io.Discard, resp.Body); err == nil {
				t.Fatalf("read %d bytes to a clean end: an aborted response looked complete", n)
			}
		})
	}
}

// TestSlowButSteadyTransfersPass: an upload and a download that each take
// longer than the progress timeout, but move bytes every step, complete
// byte for byte. The download goes out as one 4 MiB message at 1 MiB/s, so
// it passes only because the host writes it in pieces with the deadline
// moved on for each.
func TestSlowButSteadyTransfersPass(t *testing.T) {
	// Steps of 1/32 of the timeout: a loaded machine may delay the client,
	// not by that much.
	const timeout = 2 * time.Second
	const step = 62500 * time.Microsecond

	t.Run("upload", func(t *testing.T) {
		b, logs := newBridge(t, drainRequest(false))
		b.ReadProgressTimeout = timeout
		srv := progressServer(t, b)
		pr, pw := io.Pipe()
		const steps, piece = 40, 16 << 10 // 2.5 s
		go func() {
			tick := time.NewTicker(step)
			defer tick.Stop()
			for range steps {
				<-tick.C
				if _, err := pw.Write(bytes.Repeat([]byte("u"), piece)); err != nil {
					return
				}
			}
			pw.Close()
		}()
		started := time.Now()
		resp, err := smallBufferClient(t, false).Post(srv.URL+"/upload", "application/octet-stream", pr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(got) != steps*piece {
			t.Fatalf("status %d, %d bytes echoed of %d, err %v\n%s", resp.StatusCode, len(got), steps*piece, err, logs)
		}
		if elapsed := time.Since(started); elapsed <= timeout {
			t.Fatalf("took %v, not longer than the %v timeout: the test proves nothing", elapsed, timeout)
		}
	})

	t.Run("download", func(t *testing.T) {
		want := make([]byte, 4<<20)
		for i := range want {
			want[i] = byte(i % 251)
		}
		b, logs := newBridge(t, replay(nil, initMsg(200), &pb.ServeHTTPResponse{BodyChunk: want}, done()))
		b.WriteProgressTimeout = timeout
		srv := progressServer(t, b)
		started := time.Now()
		resp, err := smallBufferClient(t, false).Get(srv.URL + "/download")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got bytes.Buffer
		tick := time.NewTicker(step)
		defer tick.Stop()
		for {
			<-tick.C
			n, err := got.ReadFrom(io.LimitReader(resp.Body, 64<<10)) // 1 MiB/s
			if err != nil {
				t.Fatalf("after %d bytes: %v\n%s", got.Len(), err, logs)
			}
			if n == 0 {
				break
			}
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("got %d bytes, want the %d sent, intact\n%s", got.Len(), len(want), logs)
		}
		if elapsed := time.Since(started); elapsed <= timeout {
			t.Fatalf("took %v, not longer than the %v timeout: the test proves nothing", elapsed, timeout)
		}
	})
}

// TestPluginPausesDoNotCountAgainstTheClient: the deadlines bound the
// client, not the plugin. A plugin that takes longer than both timeouts to
// answer a complete upload, between two chunks and before body_complete
// gets its response through whole (no stale deadline left armed, including
// for what net/http writes after the handler returns).
func TestPluginPausesDoNotCountAgainstTheClient(t *testing.T) {
	// The read timeout leaves room for a loaded machine between the client's
	// request head and its body; the write timeout needs none.
	const readTimeout, writeTimeout = 500 * time.Millisecond, 100 * time.Millisecond
	pause := func(s pb.PluginHooks_ServeHTTPServer, d time.Duration) error {
		select {
		case <-time.After(d): // the plugin being slow is the behaviour under test
			return nil
		case <-s.Context().Done():
			return s.Context().Err()
		}
	}
	b, logs := newBridge(t, func(s pb.PluginHooks_ServeHTTPServer) error {
		for {
			m, err := s.Recv()
			if err != nil {
				return err
			}
			if m.GetBodyComplete() {
				break
			}
		}
		for i, step := range []*pb.ServeHTTPResponse{initMsg(200), chunk("one "), chunk("two"), done()} {
			d := 5 * writeTimeout
			if i == 0 {
				d = 2 * readTimeout // after the whole body was read
			}
			if err := pause(s, d); err != nil {
				return err
			}
			if err := s.Send(&pb.ServeHTTPResponse{Init: step.Init, BodyChunk: step.BodyChunk, BodyComplete: step.BodyComplete, Flush: true}); err != nil {
				return err
			}
		}
		return nil
	})
	b.ReadProgressTimeout, b.WriteProgressTimeout = readTimeout, writeTimeout
	srv := progressServer(t, b)
	for _, proto := range protocols {
		t.Run(proto.name, func(t *testing.T) {
			resp, err := smallBufferClient(t, proto.h2c).Post(srv.URL+"/upload", "text/plain", strings.NewReader("whole body"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || string(got) != "one two" {
				t.Fatalf("status %d body %q err %v\n%s", resp.StatusCode, got, err, logs)
			}
		})
	}
	if strings.Contains(logs.String(), "failed") {
		t.Fatalf("a slow plugin was blamed on the client:\n%s", logs)
	}
}

// deadlineRecorder is a ResponseWriter that records writes and write
// deadlines (http.ResponseController finds SetWriteDeadline on it).
type deadlineRecorder struct {
	*recorder
	events []string
}

func (d *deadlineRecorder) Write(p []byte) (int, error) {
	d.events = append(d.events, fmt.Sprintf("write %d", len(p)))
	return len(p), nil
}

func (d *deadlineRecorder) SetWriteDeadline(time.Time) error {
	d.events = append(d.events, "deadline")
	return nil
}

// TestProgressWriterWritesInPieces: with a write timeout, a large write goes
// out in pieces of at most the configured piece (DefaultWritePieceBytes when
// none is) with the deadline armed first; without one, it is a single write
// and no deadline is touched.
func TestProgressWriterWritesInPieces(t *testing.T) {
	payload := make([]byte, 3*64<<10+100)
	for _, tc := range []struct {
		timeout time.Duration
		piece   int
		want    []string
	}{
		{time.Minute, 64 << 10, []string{"deadline", "write 65536", "write 65536", "write 65536", "write 100"}},
		{time.Minute, 0, []string{"deadline", "write 196708"}},
		{time.Minute, 100_000, []string{"deadline", "write 100000", "write 96708"}},
		{0, 64 << 10, []string{"write 196708"}},
	} {
		rec := &deadlineRecorder{recorder: newRecorder()}
		d := &clientDeadlines{rc: http.NewResponseController(rec), writeTimeout: tc.timeout, writePiece: tc.piece}
		n, err := progressWriter{rec, d}.Write(payload)
		if err != nil || n != len(payload) {
			t.Fatalf("timeout %v: wrote %d of %d, err %v", tc.timeout, n, len(payload), err)
		}
		if strings.Join(rec.events, ",") != strings.Join(tc.want, ",") {
			t.Fatalf("timeout %v: events %q, want %q", tc.timeout, rec.events, tc.want)
		}
	}
}
