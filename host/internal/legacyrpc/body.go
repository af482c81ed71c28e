package legacyrpc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The request body stream: the plugin asks for at most n bytes by writing n
// as a varint, the host answers with up to n body bytes, and the host closes
// the stream at the body's end, which the plugin reads as EOF. There is no
// way to send an error: a body that fails on the host also ends the stream,
// so the host ends the whole exchange then (HooksClient.ServeHTTP).

// bodyCopyBytes is the host's copy buffer per body stream.
const bodyCopyBytes = 32 << 10

// ServeBody answers the plugin's length requests from body until body ends
// or the plugin stops asking (nil), the body fails (a bodyError), or the
// stream does (its error). The caller closes conn.
func ServeBody(body io.Reader, conn io.ReadWriter) error {
	// Only length requests come this way, so buffering them reads nothing
	// that belongs to anyone else.
	requests := bufio.NewReaderSize(conn, 16)
	buf := make([]byte, bodyCopyBytes)
	for {
		n, err := binary.ReadVarint(requests)
		if err != nil {
			return nil // the plugin closed its end: it wants no more
		}
		if n < 0 {
			return fmt.Errorf("legacyrpc: plugin asked for %d body bytes", n)
		}
		for n > 0 {
			got, readErr := body.Read(buf[:min(int64(len(buf)), n)])
			if got > 0 {
				if _, err := conn.Write(buf[:got]); err != nil {
					return err
				}
				n -= int64(got)
			}
			switch {
			case errors.Is(readErr, io.EOF):
				return nil // the body's end: closing the stream says so
			case readErr != nil:
				return bodyError{readErr}
			}
		}
	}
}

// bodyError marks a failure to read the client's body (as opposed to a
// failure to write to the plugin), so the caller can tell the two apart.
type bodyError struct{ err error }

func (e bodyError) Error() string { return "reading the request body: " + e.err.Error() }
func (e bodyError) Unwrap() error { return e.err }

// BodyReader is the plugin's request body: each Read sends one length
// request and reads what arrives.
type BodyReader struct {
	conn io.ReadWriteCloser
}

// NewBodyReader reads the body over the plugin's end of the body stream.
func NewBodyReader(conn io.ReadWriteCloser) *BodyReader { return &BodyReader{conn: conn} }

// Read asks the host for len(b) bytes and returns those that have arrived.
func (r *BodyReader) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var request [binary.MaxVarintLen64]byte
	if _, err := r.conn.Write(request[:binary.PutVarint(request[:], int64(len(b)))]); err != nil {
		return 0, err
	}
	return r.conn.Read(b)
}

// Close ends the plugin's end of the stream.
func (r *BodyReader) Close() error { return r.conn.Close() }
