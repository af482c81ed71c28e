package bridge

import (
	"bytes"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

// fuzzMaxMessageBytes is the bridge's limit in the fuzz run; op bit 64 makes
// a message over it.
const fuzzMaxMessageBytes = 1024

// decodeScript turns fuzz bytes into the plugin's response messages and how
// its stream ends. Byte 0 bit 0: end with an error. Then 3 bytes per message:
// op (1 init, 2 body, 4 complete, 8 flush, 16 bad header, 32 good header,
// 64 oversize body), and two bytes for the status (int16) or body length.
func decodeScript(data []byte) (msgs []*pb.ServeHTTPResponse, endErr error) {
	if len(data) == 0 {
		return nil, nil
	}
	if data[0]&1 == 1 {
		endErr = status.Error(codes.Internal, "fuzz plugin failed")
	}
	data = data[1:]
	for len(data) >= 3 && len(msgs) < 32 {
		op, a, b := data[0], data[1], data[2]
		data = data[3:]
		m := &pb.ServeHTTPResponse{}
		if op&1 != 0 {
			m.Init = &pb.ServeHTTPResponseInit{StatusCode: int32(int16(uint16(a)<<8 | uint16(b)))}
			if op&16 != 0 {
				m.Init.Headers = append(m.Init.Headers, &pb.HTTPHeader{Key: "X-Bad", Values: []string{"v\r\nSet-Cookie: x"}})
			}
			if op&32 != 0 {
				m.Init.Headers = append(m.Init.Headers, &pb.HTTPHeader{Key: "X-Good", Values: []string{"1", "2"}})
			}
		}
		if op&2 != 0 {
			m.BodyChunk = bytes.Repeat([]byte{'a' + a%26}, int(b)%97+1)
		}
		if op&64 != 0 {
			m.BodyChunk = make([]byte, fuzzMaxMessageBytes+1)
		}
		m.BodyComplete = op&4 != 0
		m.Flush = op&8 != 0
		msgs = append(msgs, m)
	}
	return msgs, endErr
}

// scriptedPlugin plays the script hex-encoded in the request's X-Script header.
func scriptedPlugin(s pb.PluginHooks_ServeHTTPServer) error {
	first, err := s.Recv()
	if err != nil {
		return err
	}
	var script []byte
	for _, h := range first.GetInit().GetHeaders() {
		if h.GetKey() == "X-Script" && len(h.GetValues()) > 0 {
			script, _ = hex.DecodeString(h.GetValues()[0])
		}
	}
	msgs, endErr := decodeScript(script)
	for _, m := range msgs {
		if err := s.Send(m); err != nil {
			return err
		}
	}
	return endErr
}

// FuzzBridgeResponses: whatever the plugin sends, the bridge never panics
// (other than the deliberate http.ErrAbortHandler), always returns, applies
// at most one status, and a response it does not abort has a valid status.
func FuzzBridgeResponses(f *testing.F) {
	f.Add([]byte{0, 1, 0, 200, 2, 1, 5, 4, 0, 0})   // init, body, complete
	f.Add([]byte{1, 1, 0, 200, 2, 1, 5})            // init, body, error
	f.Add([]byte{0, 1, 0xff, 0xff, 4, 0, 0})        // status -1
	f.Add([]byte{0, 1, 0, 0, 1, 0, 0, 4, 0, 0})     // two inits
	f.Add([]byte{0, 6, 1, 1, 2, 1, 1})              // body after complete
	f.Add([]byte{0, 17, 0, 200, 4, 0, 0})           // header injection
	f.Add([]byte{0, 1, 0, 200, 64, 0, 0, 4, 0, 0})  // oversize after init
	f.Add([]byte{0, 10, 3, 3, 10, 3, 3, 12, 0, 0})  // implicit init, flushes
	f.Add([]byte{0, 33, 3, 0xe7, 8, 0, 0, 6, 1, 2}) // status 999, good headers
	b, _ := newBridge(f, scriptedPlugin)
	b.MaxMessageBytes = fuzzMaxMessageBytes
	f.Fuzz(func(t *testing.T, script []byte) {
		req := httptest.NewRequest(http.MethodGet, "/fuzz", nil)
		req.Header.Set("X-Script", hex.EncodeToString(script))
		rec := newRecorder()
		aborted := serve(t, b, flushRecorder{rec}, req) // fails the test on any other panic
		st, _, _ := rec.snapshot()
		if rec.headerCalls > 1 {
			t.Fatalf("%d WriteHeader calls", rec.headerCalls)
		}
		if !aborted && (st < 100 || st > 999) {
			t.Fatalf("response ended without a valid status (%d)", st)
		}
	})
}
