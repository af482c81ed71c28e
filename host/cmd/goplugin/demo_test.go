package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func serve(d *demo, method, target, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
	return rec
}

func TestDownload(t *testing.T) {
	d := newDemo()
	for _, tc := range []struct {
		target string
		size   int
		writes int
	}{
		{"/download?size=1024&chunk=1024", 1024, 1},
		{"/download?size=1000&chunk=300", 1000, 4},
		{"/download/?size=70000", 70000, 2}, // default chunk 64 KiB; trailing slash as in the Python demo
		{"/download?size=5&chunk=1&chunk=2", 5, 3},
		{"/download", 0, 0},
	} {
		t.Run(tc.target, func(t *testing.T) {
			writes := &countingRecorder{ResponseRecorder: httptest.NewRecorder()}
			d.ServeHTTP(writes, httptest.NewRequest(http.MethodGet, tc.target, nil))
			rec := writes.ResponseRecorder
			if rec.Code != 200 || rec.Header().Get("Content-Length") != strconv.Itoa(tc.size) ||
				rec.Header().Get("Content-Type") != "application/octet-stream" || rec.Body.Len() != tc.size {
				t.Fatalf("%d %v, %d bytes", rec.Code, rec.Header(), rec.Body.Len())
			}
			for i, b := range rec.Body.Bytes() {
				if b != byte(i) {
					t.Fatalf("byte %d is %d, want %d", i, b, byte(i))
				}
			}
			if writes.n != tc.writes {
				t.Fatalf("%d writes, want %d (one per chunk)", writes.n, tc.writes)
			}
		})
	}
}

type countingRecorder struct {
	*httptest.ResponseRecorder
	n int
}

func (c *countingRecorder) Write(b []byte) (int, error) {
	c.n++
	return c.ResponseRecorder.Write(b)
}

func TestBadQueriesAndUnknownRoutes(t *testing.T) {
	d := newDemo()
	for _, tc := range []struct {
		target string
		status int
		error  string
	}{
		{"/download?size=abc", 400, "query parameter size='abc' is not an integer"},
		{"/download?size=-1", 400, "query parameter size=-1 out of range 0..1125899906842624"},
		{"/download?size=1&chunk=0", 400, "query parameter chunk=0 out of range 1..16777216"},
		{"/download?size=1&chunk=16777217", 400, "out of range"},
		{"/elsewhere", 404, "no route /elsewhere"},
	} {
		rec := serve(d, http.MethodGet, tc.target, "")
		var answer map[string]string
		if rec.Code != tc.status || json.Unmarshal(rec.Body.Bytes(), &answer) != nil || !strings.Contains(answer["error"], tc.error) ||
			rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q, want %d with %q", tc.target, rec.Code, rec.Body.String(), tc.status, tc.error)
		}
	}
}

func TestUpload(t *testing.T) {
	d := newDemo()
	body := strings.Repeat("x", 3*uploadReadBytes+1)
	for target, hashed := range map[string]bool{"/upload": true, "/upload?hash=none": false} {
		rec := serve(d, http.MethodPost, target, body)
		var answer map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || rec.Code != 200 || answer["bytes"] != float64(len(body)) {
			t.Fatalf("%s: %d %q", target, rec.Code, rec.Body.String())
		}
		if !hashed && answer["sha256"] != nil {
			t.Errorf("%s: sha256 %v, want null", target, answer["sha256"])
		}
		if hashed && answer["sha256"] != sha256Hex(body) {
			t.Errorf("%s: sha256 %v, want %s", target, answer["sha256"], sha256Hex(body))
		}
	}
	if st := d.Stats(false); st.HandlersTotal != 2 || st.ActiveHandlers != 0 || st.PID <= 0 || st.RSSBytes <= 0 {
		t.Fatalf("stats %+v", st)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
