package bridge

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

// Why an offloaded response could not be served.
var (
	errOffloadOff = errors.New(SendfileHeader + " while file offload is off (no files root)")
	errFileShort  = errors.New("file offload: the file ended before its Content-Length")
)

// offloadError is a file named by X-Sendfile that the host could not open:
// err is the files package's (not found, not a regular file, forbidden).
type offloadError struct {
	name string
	err  error
}

func (e *offloadError) Error() string { return fmt.Sprintf("%s %q: %v", SendfileHeader, e.name, e.err) }

func (e *offloadError) Unwrap() error { return e.err }

// offload is a response the plugin handed to the host: the file it named
// and the headers to send with it.
type offload struct {
	name   string
	header http.Header // the plugin's, without X-Sendfile, Content-Length, Content-Range
	w      *fileWriter // set once serving began
}

// committed reports whether the file's status line went out.
func (o *offload) committed() bool { return o.w != nil && o.w.status != 0 }

// offloadOf returns the offload a response-init asks for with X-Sendfile, or
// nil when it does not. Only a 200 (code, 0 already made 200) naming one
// file may ask, and only when offload is on.
func offloadOf(init *pb.ServeHTTPResponseInit, code int, enabled bool) (*offload, error) {
	asked := false
	for _, hdr := range init.GetHeaders() {
		asked = asked || strings.EqualFold(hdr.GetKey(), SendfileHeader)
	}
	if !asked {
		return nil, nil
	}
	var names []string
	header := make(http.Header, len(init.GetHeaders()))
	for _, hdr := range init.GetHeaders() {
		switch http.CanonicalHeaderKey(hdr.GetKey()) {
		case SendfileHeader:
			names = append(names, hdr.GetValues()...)
		case "Content-Length", "Content-Range":
			// The host knows the file's length; ServeContent sets both.
		default:
			for _, v := range hdr.GetValues() {
				header.Add(hdr.GetKey(), v)
			}
		}
	}
	switch {
	case !enabled:
		return nil, errOffloadOff
	case code != http.StatusOK:
		return nil, protocolError(fmt.Sprintf("%s with status %d (want 200)", SendfileHeader, code))
	case len(names) != 1:
		return nil, protocolError(fmt.Sprintf("%s with %d values (want one file)", SendfileHeader, len(names)))
	}
	return &offload{name: names[0], header: header}, nil
}

// serveFile serves the file the plugin named, once its stream has ended:
// opened under Bridge.Files (a refusal is a status, nothing sent yet), the
// plugin's headers first, then http.ServeContent with the client's request,
// which answers 200, 206, 304, 412 or 416 and HEAD as it decides. The copy
// reaches net/http's ReadFrom (sendfile on an HTTP/1 TCP connection) through
// fileWriter, with the write-progress deadline and the Observer's count.
func (ex *exchange) serveFile() error {
	o := ex.file
	f, err := ex.b.Files.Open(o.name)
	if err != nil {
		return &offloadError{name: o.name, err: err}
	}
	defer f.Close()
	o.w = &fileWriter{progressWriter: progressWriter{ex.w, ex.deadlines}}
	h := o.w.Header()
	for key, values := range o.header {
		h[key] = values
	}
	http.ServeContent(o.w, ex.r, path.Base(o.name), f.Info.ModTime(), f.File)
	defer ex.deadlines.writesDone()
	if o.w.err != nil {
		return ex.clientWriteFailed(o.w.err)
	}
	if want, ok := o.w.bodyLength(ex.r); ok && o.w.written < want {
		return fmt.Errorf("%w: %s %q: sent %d of %d bytes", errFileShort, SendfileHeader, o.name, o.w.written, want)
	}
	return nil
}

// fileWriter is the client's writer as http.ServeContent sees it: writes in
// pieces under the write-progress deadline and ReadFrom, so net/http can
// sendfile (progressWriter); it keeps what ServeContent does not report:
// the status sent, the body bytes written and the first write error.
type fileWriter struct {
	progressWriter
	status  int
	written int64
	err     error
}

func (w *fileWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.progressWriter.WriteHeader(code)
}

func (w *fileWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.progressWriter.Write(p)
	w.count(int64(n), err)
	return n, err
}

func (w *fileWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.progressWriter.ReadFrom(src)
	w.count(n, err)
	return n, err
}

func (w *fileWriter) count(n int64, err error) {
	w.written += n
	if err != nil && w.err == nil {
		w.err = err
	}
}

// bodyLength is the body ServeContent promised (its Content-Length), when it
// sent one with a status that carries a body.
func (w *fileWriter) bodyLength(r *http.Request) (int64, bool) {
	if r.Method == http.MethodHead || (w.status != http.StatusOK && w.status != http.StatusPartialContent) {
		return 0, false
	}
	n, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64)
	return n, err == nil
}
