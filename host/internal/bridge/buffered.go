package bridge

import (
	"bytes"
	"net/http"
)

// bufferedResponse is the Buffered mode's stand-in ResponseWriter: it holds
// status, headers and the whole body until the plugin completes, like a
// naive non-streaming bridge. Nothing reaches the client before writeTo, so any failure
// before then is still a clean 500.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newBufferedResponse() *bufferedResponse {
	return &bufferedResponse{header: make(http.Header)}
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if b.status == http.StatusNoContent || b.status == http.StatusNotModified {
		return 0, http.ErrBodyNotAllowed // as net/http's own writer says
	}
	return b.body.Write(p)
}

// writeTo sends the held response in one go.
func (b *bufferedResponse) writeTo(w http.ResponseWriter) error {
	h := w.Header()
	for k, v := range b.header {
		h[k] = v
	}
	status := b.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, err := b.body.WriteTo(w)
	return err
}
