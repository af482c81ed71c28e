package legacyrpc

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/hashicorp/yamux"
)

// countingConn counts the length requests the plugin's reader sends (each
// is one Write on the stream).
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *countingConn) requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// streamPair is the two ends of one yamux stream, what a broker stream is
// (net.Pipe would not buffer: the host's answer and the plugin's next request
// would wait on each other; TCP would reset a closed end).
func streamPair(t *testing.T) (hostEnd, pluginEnd net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	host, err := yamux.Server(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	client, err := yamux.Client(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.Close()
		_ = host.Close()
	})
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := host.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- conn
	}()
	pluginEnd, err = client.Open()
	if err != nil {
		t.Fatal(err)
	}
	return <-accepted, pluginEnd
}

// serveOverConn runs ServeBody on the host's end of a stream (closing it
// after, as the host does) and returns a reader on the plugin's end and
// ServeBody's result.
func serveOverConn(t *testing.T, body io.Reader) (*BodyReader, *countingConn, <-chan error) {
	t.Helper()
	hostEnd, pluginEnd := streamPair(t)
	result := make(chan error, 1)
	go func() {
		defer hostEnd.Close()
		result <- ServeBody(body, hostEnd)
	}()
	counted := &countingConn{Conn: pluginEnd}
	reader := NewBodyReader(counted)
	t.Cleanup(func() { _ = reader.Close() })
	return reader, counted, result
}

func TestBodyReaderOneRequestPerRead(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int
		readSize int
	}{
		{"empty body", 0, 64},
		{"one byte", 1, 64},
		{"smaller than a read", 1000, 4096},
		{"exact multiple of the read", 8192, 4096},
		{"many reads", 100_000, 1000},
		{"larger than the host's copy buffer", 3 * bodyCopyBytes, 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := bytes.Repeat([]byte("0123456789abcdef"), tc.size/16+1)[:tc.size]
			reader, conn, result := serveOverConn(t, bytes.NewReader(payload))
			var got bytes.Buffer
			buf := make([]byte, tc.readSize)
			reads := 0
			for {
				n, err := reader.Read(buf)
				reads++
				got.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("read %d: %v", reads, err)
				}
			}
			if !bytes.Equal(got.Bytes(), payload) {
				t.Fatalf("read %d bytes, want the %d sent", got.Len(), len(payload))
			}
			// The read that saw EOF asked too, and it may be answered by the
			// host closing the stream before reading the request.
			if requests := conn.requests(); requests != reads {
				t.Fatalf("%d length requests for %d reads, want one per read", requests, reads)
			}
			if err := <-result; err != nil {
				t.Fatalf("ServeBody: %v", err)
			}
		})
	}
}

func TestBodyReaderEmptyReadAsksNothing(t *testing.T) {
	reader, conn, _ := serveOverConn(t, bytes.NewReader([]byte("abc")))
	if n, err := reader.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
	if conn.requests() != 0 {
		t.Fatalf("%d requests for an empty read, want none", conn.requests())
	}
}

func TestServeBodyFailures(t *testing.T) {
	broken := errors.New("client connection reset")
	for _, tc := range []struct {
		name       string
		body       io.Reader
		bodyFailed bool
	}{
		{"body read error", io.MultiReader(bytes.NewReader(make([]byte, 10)), iotest.ErrReader(broken)), true},
		{"unexpected EOF", iotest.ErrReader(io.ErrUnexpectedEOF), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reader, _, result := serveOverConn(t, tc.body)
			// The plugin sees the stream end: no error can cross it.
			if _, err := io.ReadAll(reader); err != nil {
				t.Fatalf("plugin side: %v", err)
			}
			err := <-result
			var failed bodyError
			if errors.As(err, &failed) != tc.bodyFailed || !errors.Is(err, broken) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("ServeBody: %v, want a body error wrapping the cause", err)
			}
		})
	}
}

func TestServeBodyStopsWhenThePluginDoes(t *testing.T) {
	hostEnd, pluginEnd := streamPair(t)
	result := make(chan error, 1)
	go func() { result <- ServeBody(bytes.NewReader(make([]byte, 1<<20)), hostEnd) }()
	reader := NewBodyReader(pluginEnd)
	if _, err := reader.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	_ = reader.Close() // the handler returned without reading the rest
	if err := <-result; err != nil {
		t.Fatalf("ServeBody: %v, want nil when the plugin stops asking", err)
	}
	_ = hostEnd.Close()
}

func TestServeBodyRefusesANegativeLength(t *testing.T) {
	hostEnd, pluginEnd := net.Pipe()
	result := make(chan error, 1)
	go func() { result <- ServeBody(bytes.NewReader([]byte("abc")), hostEnd) }()
	if _, err := pluginEnd.Write([]byte{0x01}); err != nil { // varint -1
		t.Fatal(err)
	}
	var failed bodyError
	if err := <-result; err == nil || errors.As(err, &failed) {
		t.Fatalf("ServeBody: %v, want a protocol error (not a body error)", err)
	}
	_ = hostEnd.Close()
	_ = pluginEnd.Close()
}
