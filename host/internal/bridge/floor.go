package bridge

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"google.golang.org/grpc"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

// FloorResult is what the gRPC floor answers instead of the body: the
// plugin's status, the body bytes and messages received and discarded, and
// whether the plugin said body_complete.
type FloorResult struct {
	Status   int32 `json:"status"`
	Bytes    int64 `json:"bytes"`
	Messages int64 `json:"messages"`
	Complete bool  `json:"complete"`
}

// Floor serves GET requests the way ServeHTTP does up to the client write:
// the same stream options and zero-copy codec, the same request-init, every
// response message received and its chunk dropped. Its cost is what moving a
// response over the gRPC pair costs the host, the floor the bridge is measured
// against. It answers a JSON FloorResult; a stream that fails is a 502 and a
// log line.
func (b *Bridge) Floor() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "grpc floor: GET only", http.StatusMethodNotAllowed)
			return
		}
		result, err := b.pullAndDiscard(r)
		if err != nil {
			b.logger().Warn("grpc floor failed", "plugin_id", b.PluginID, "path", r.URL.Path, "err", err)
			http.Error(w, "grpc floor: "+err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(result)
	})
}

func (b *Bridge) pullAndDiscard(r *http.Request) (FloorResult, error) {
	var result FloorResult
	stream, err := b.Plugin.ServeHTTP(r.Context(), grpc.MaxCallRecvMsgSize(b.maxMessageBytes()),
		grpc.ForceCodecV2(newResponseCodec()))
	if err != nil {
		return result, err
	}
	if err := stream.Send(&pb.ServeHTTPRequest{Init: requestInit(r, false), BodyComplete: true}); err != nil && !errors.Is(err, io.EOF) {
		return result, err
	}
	_ = stream.CloseSend()
	var received pooledResponse
	defer received.release()
	for {
		err := stream.RecvMsg(&received)
		if errors.Is(err, io.EOF) {
			return result, nil // the stream ended; Complete says whether the body did
		}
		if err != nil {
			return result, err
		}
		msg := &received.msg
		if init := msg.GetInit(); init != nil {
			result.Status = init.GetStatusCode()
		}
		result.Bytes += int64(len(msg.GetBodyChunk()))
		result.Messages++
		if msg.GetBodyComplete() {
			result.Complete = true
		}
	}
}
