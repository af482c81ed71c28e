// Package direct serves the Go-direct reference routes: the same bytes as the
// bench plugin's /download and /upload, and the files the plugin can offload,
// produced by the host itself, so a run can compare "through the plugin" with
// "what plain net/http does".
package direct

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"

	"github.com/streambench/host/internal/files"
)

const (
	// DefaultChunkBytes is the write size when ?chunk= is absent (upstream's 64 KiB).
	DefaultChunkBytes = 64 << 10
	// MaxChunkBytes bounds ?chunk= so a query cannot make the host allocate at will.
	MaxChunkBytes = 16 << 20
	patternPeriod = 256
)

// Download serves GET /direct/download?size=N&chunk=C: N bytes where byte i
// is i % 256, written C bytes per Write.
func Download(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size, err := intParam(q.Get("size"), -1, 0, 1<<62)
	if err != nil || size < 0 {
		http.Error(w, fmt.Sprintf("size: want an integer >= 0 (got %q)", q.Get("size")), http.StatusBadRequest)
		return
	}
	chunk, err := intParam(q.Get("chunk"), DefaultChunkBytes, 1, MaxChunkBytes)
	if err != nil {
		http.Error(w, fmt.Sprintf("chunk: want an integer in 1..%d (got %q)", MaxChunkBytes, q.Get("chunk")), http.StatusBadRequest)
		return
	}
	// One pattern buffer one period longer than a chunk: any offset's bytes
	// are a slice of it, so no per-write fill.
	pattern := make([]byte, int(chunk)+patternPeriod)
	for i := range pattern {
		pattern[i] = byte(i % patternPeriod)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	for sent := int64(0); sent < size; {
		n := min(chunk, size-sent)
		start := int(sent % patternPeriod)
		if _, err := w.Write(pattern[start : start+int(n)]); err != nil {
			return // client went away; net/http closes the connection
		}
		sent += n
	}
}

// Upload serves POST /direct/upload: reads the body incrementally and answers
// {"bytes": n, "sha256": hex}.
func Upload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "upload: use POST or PUT", http.StatusMethodNotAllowed)
		return
	}
	digest := sha256.New()
	buf := make([]byte, DefaultChunkBytes)
	n, err := io.CopyBuffer(digest, r.Body, buf)
	if err != nil {
		http.Error(w, "upload: reading request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Bytes  int64  `json:"bytes"`
		SHA256 string `json:"sha256"`
	}{n, hex.EncodeToString(digest.Sum(nil))})
}

// File serves GET /direct/file?path=REL: the file REL under root, served by
// the host with http.ServeContent (Range, conditional requests, HEAD;
// sendfile on HTTP/1) under the same rules as the bridge's file offload
// (package files): 404 when missing, not a regular file, or when there is no
// root; 403 when REL would leave the root.
func File(root *files.Root) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if root == nil {
			http.Error(w, "file: no files root (--files-root)", http.StatusNotFound)
			return
		}
		name := r.URL.Query().Get("path")
		f, err := root.Open(name)
		if err != nil {
			http.Error(w, "file: "+files.Reason(err), files.Status(err))
			return
		}
		defer f.Close()
		http.ServeContent(w, r, path.Base(name), f.Info.ModTime(), f.File)
	}
}

// intParam parses an optional integer query value within [lo, hi].
func intParam(raw string, fallback, lo, hi int64) (int64, error) {
	if raw == "" {
		return fallback, nil
	}
	v, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, err
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%d outside %d..%d", v, lo, hi)
	}
	return v, nil
}
