// Package legacyrpc is the shape of the legacy plugin RPC through which the
// Mattermost server calls a Go plugin's ServeHTTP: hashicorp/go-plugin's
// net/rpc protocol, with a MuxBroker multiplexing streams on one yamux
// session. It is written here after that shape, so a Go plugin on it can be
// measured beside the gRPC bridge in the same run.
//
// One HTTP request, host side (HooksClient.ServeHTTP):
//
//  1. two broker streams are reserved (MuxBroker.NextId) and accepted in the
//     background: one serves the host's http.ResponseWriter as a net/rpc
//     server (ResponseWriterServer), the other serves the request body
//     (ServeBody);
//  2. one net/rpc call, Plugin.ServeHTTP, carries the request's metadata
//     (Request) and the two stream ids (ServeHTTPArgs); it returns when the
//     plugin's handler has returned.
//
// Plugin side (HooksServer.ServeHTTP): it dials both streams and hands its
// handler an http.ResponseWriter (ResponseWriterClient) and a body
// (BodyReader), each a client of the host over its stream:
//
//	Write(b)          2 synchronous calls: Plugin.SyncHeader, Plugin.Write(b)
//	WriteHeader(code) 2 synchronous calls: Plugin.SyncHeader, Plugin.WriteHeader(code)
//	Flush()           2 synchronous calls: Plugin.SyncHeader, Plugin.Flush (best effort)
//	Header()          1 call, the first time only: Plugin.Header
//	Body.Read(b)      1 length request (a varint) on the body stream, then the bytes
//
// Every write is two round trips between the processes before the handler can
// go on: that per-write cost is what the comparison with the bridge measures,
// so it is kept as it is.
//
// The shape has no cancellation: the host can only make the plugin's next
// write or body read fail (it closes both streams when the client is gone or
// the request body fails), and a plugin handler ends when it notices.
package legacyrpc
