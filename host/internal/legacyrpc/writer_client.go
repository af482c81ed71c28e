package legacyrpc

import (
	"io"
	"net/http"
	"net/rpc"
)

// The response writer's methods on the host (ResponseWriterServer).
const (
	methodHeader      = "Plugin.Header"
	methodSyncHeader  = "Plugin.SyncHeader"
	methodWrite       = "Plugin.Write"
	methodWriteHeader = "Plugin.WriteHeader"
	methodFlush       = "Plugin.Flush"
)

// ResponseWriterClient is the plugin's http.ResponseWriter: every method is
// a synchronous call to the host's ResponseWriterServer, the header map synced
// before each write, status or flush.
type ResponseWriterClient struct {
	client *rpc.Client
	header http.Header
}

var (
	_ http.ResponseWriter = (*ResponseWriterClient)(nil)
	_ http.Flusher        = (*ResponseWriterClient)(nil)
)

// NewResponseWriterClient is a writer over the plugin's end of the
// response-writer stream.
func NewResponseWriterClient(conn io.ReadWriteCloser) *ResponseWriterClient {
	return &ResponseWriterClient{client: rpc.NewClient(conn)}
}

// Header is the plugin's header map, fetched from the host on first use.
func (w *ResponseWriterClient) Header() http.Header {
	if w.header == nil {
		if err := w.client.Call(methodHeader, struct{}{}, &w.header); err != nil || w.header == nil {
			w.header = http.Header{}
		}
	}
	return w.header
}

// Write syncs the header map, then writes b: two round trips.
func (w *ResponseWriterClient) Write(b []byte) (int, error) {
	if err := w.client.Call(methodSyncHeader, w.header, &struct{}{}); err != nil {
		return 0, err
	}
	if err := w.client.Call(methodWrite, b, &struct{}{}); err != nil {
		return 0, err
	}
	return len(b), nil
}

// WriteHeader syncs the header map, then sends the status: two round trips.
// A status the host refuses is logged there; like net/http's, this method
// cannot return the error.
func (w *ResponseWriterClient) WriteHeader(code int) {
	if err := w.client.Call(methodSyncHeader, w.header, &struct{}{}); err != nil {
		return
	}
	_ = w.client.Call(methodWriteHeader, code, &struct{}{})
}

// Flush syncs the header map, then asks the host to flush: best effort, a
// failure shows at the next Write.
func (w *ResponseWriterClient) Flush() {
	if err := w.client.Call(methodSyncHeader, w.header, &struct{}{}); err != nil {
		return
	}
	_ = w.client.Call(methodFlush, struct{}{}, &struct{}{})
}

// Close ends the plugin's end of the stream.
func (w *ResponseWriterClient) Close() error { return w.client.Close() }
