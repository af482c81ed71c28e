package bridge

import (
	"errors"
	"net/http"
)

// writeBody writes one body chunk to the client. A status that forbids a
// body (204, 304; net/http sends 1xx as informational responses and the body
// after them under an implicit 200) makes the writer refuse it with
// http.ErrBodyNotAllowed: like net/http for its own handlers, the status and
// headers go out, the bytes are dropped and counted (reportDroppedBody logs
// them once), and the connection stays usable.
func (ex *exchange) writeBody(chunk []byte) error {
	_, err := ex.out.Write(chunk)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, http.ErrBodyNotAllowed):
		ex.droppedBodyBytes += int64(len(chunk))
		return nil
	case ex.r.Method == http.MethodHead:
		// net/http discards a HEAD body; HTTP/2 ends the stream with the
		// headers and may report it closed to later writes. Nothing is lost.
		return nil
	}
	return ex.clientWriteFailed(err)
}

// clientWriteFailed ends the exchange after a write or flush to the client
// failed: a stalled client (write-progress-timeout) or a broken connection.
// Both cancel the plugin's stream.
func (ex *exchange) clientWriteFailed(err error) error {
	cause := errClientWrite
	if ex.deadlines.writeStalled(err) {
		cause = errWriteStalled
	}
	ex.cancel(cause)
	return errors.Join(cause, err)
}

// reportDroppedBody logs, once per response, the body bytes a status without
// a body had no room for: the plugin's bug, the client's response is fine.
func (ex *exchange) reportDroppedBody() {
	if ex.droppedBodyBytes == 0 {
		return
	}
	ex.b.logger().Warn("plugin wrote a body for a status that forbids one; dropped it",
		"plugin_id", ex.b.PluginID, "path", ex.r.URL.Path, "method", ex.r.Method,
		"status", ex.status, "dropped_bytes", ex.droppedBodyBytes)
}
