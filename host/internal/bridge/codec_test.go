package bridge

import (
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

// FuzzDecodeResponse: the aliasing decoder agrees with proto.Unmarshal on
// every input (same fields, same accept/reject).
func FuzzDecodeResponse(f *testing.F) {
	for _, m := range []*pb.ServeHTTPResponse{
		{},
		{BodyChunk: []byte("abc"), Flush: true},
		{Init: &pb.ServeHTTPResponseInit{StatusCode: 201, Headers: []*pb.HTTPHeader{{Key: "A", Values: []string{"1", "2"}}}}, BodyComplete: true},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0x02, 0x08, 0x01, 0x0a, 0x02, 0x08, 0x02}) // init twice: merged
	f.Add([]byte{0x12, 0x05, 'a'})                                // truncated bytes
	f.Add([]byte{0x2a, 0x01, 'x', 0x18, 0x01})                    // unknown field 5, then complete
	f.Fuzz(func(t *testing.T, b []byte) {
		var want pb.ServeHTTPResponse
		wantErr := proto.Unmarshal(b, &want)
		got := pb.ServeHTTPResponse{BodyChunk: []byte("stale"), Flush: true}
		gotErr := decodeResponse(b, &got)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("proto err %v, decode err %v", wantErr, gotErr)
		}
		if wantErr != nil {
			return
		}
		want.ProtoReflect().SetUnknown(nil)
		if !proto.Equal(&want, &got) {
			t.Fatalf("decode %v, proto %v", &got, &want)
		}
	})
}
