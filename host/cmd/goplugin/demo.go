package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/streambench/host/internal/legacyrpc"
	"github.com/streambench/host/internal/stats"
)

const (
	// defaultChunkBytes is /download's Write size when the query gives none.
	defaultChunkBytes = 64 << 10
	// maxChunkBytes is the largest chunk= (the Python demo's limit).
	maxChunkBytes = 16 << 20
	// maxDownloadBytes is the largest size= (the Python demo's limit).
	maxDownloadBytes = 1 << 50
	// uploadReadBytes is /upload's buffer: each Read of the body asks the host
	// for this many bytes.
	uploadReadBytes = 64 << 10
)

// demo is the plugin: the routes and the process figures.
type demo struct {
	handlers stats.Streams // handlers running and run
	pattern  *pattern
}

var _ legacyrpc.Plugin = (*demo)(nil)

func newDemo() *demo { return &demo{pattern: &pattern{}} }

func (d *demo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.handlers.Start()
	defer d.handlers.End()
	path := strings.TrimRight(r.URL.Path, "/")
	var err error
	switch path {
	case "/download":
		err = d.download(w, r)
	case "/upload":
		err = upload(w, r)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no route " + r.URL.Path})
		return
	}
	var bad badRequest
	if errors.As(err, &bad) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": string(bad)})
	}
	// Any other error is a failed write: the host ended the response (the
	// client is gone), there is nobody left to answer.
}

// badRequest is a query the route cannot serve (400 with its text).
type badRequest string

func (e badRequest) Error() string { return string(e) }

// intParam is query parameter name (its last value) in low..high, or def
// when absent or empty, like the Python demo's _int_param.
func intParam(r *http.Request, name string, def, low, high int64) (int64, error) {
	values := r.URL.Query()[name]
	if len(values) == 0 || values[len(values)-1] == "" {
		return def, nil
	}
	raw := values[len(values)-1]
	v, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil {
		return 0, badRequest(fmt.Sprintf("query parameter %s='%s' is not an integer", name, raw))
	}
	if v < low || v > high {
		return 0, badRequest(fmt.Sprintf("query parameter %s=%d out of range %d..%d", name, v, low, high))
	}
	return v, nil
}

// download writes size pattern bytes, chunk bytes per Write.
func (d *demo) download(w http.ResponseWriter, r *http.Request) error {
	size, err := intParam(r, "size", 0, 0, maxDownloadBytes)
	if err != nil {
		return err
	}
	chunk, err := intParam(r, "chunk", defaultChunkBytes, 1, maxChunkBytes)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	for sent := int64(0); sent < size; {
		n := min(chunk, size-sent)
		if _, err := w.Write(d.pattern.at(sent, int(n))); err != nil {
			return err
		}
		sent += n
	}
	if size == 0 {
		w.WriteHeader(http.StatusOK) // nothing to write: send the status
	}
	return nil
}

// upload reads the body incrementally, uploadReadBytes per Read, and
// answers its length and sha256 (null with ?hash=none).
func upload(w http.ResponseWriter, r *http.Request) error {
	values := r.URL.Query()["hash"]
	var digest hash.Hash
	if len(values) == 0 || values[len(values)-1] != "none" {
		digest = sha256.New()
	}
	buf := make([]byte, uploadReadBytes)
	var total int64
	for {
		n, err := r.Body.Read(buf)
		total += int64(n)
		if digest != nil {
			digest.Write(buf[:n])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	answer := map[string]any{"bytes": total, "sha256": nil}
	if digest != nil {
		answer["sha256"] = hex.EncodeToString(digest.Sum(nil))
	}
	writeJSON(w, http.StatusOK, answer)
	return nil
}

// writeJSON answers payload with status, Content-Length set.
func writeJSON(w http.ResponseWriter, status int, payload any) {
	body, err := json.Marshal(payload)
	if err != nil {
		body = []byte(`{"error":"cannot encode the answer"}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
