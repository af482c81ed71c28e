package legacyrpc

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// plainWriter is an http.ResponseWriter that cannot flush.
type plainWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (p *plainWriter) Header() http.Header { return p.header }
func (p *plainWriter) Write(b []byte) (int, error) {
	if p.code == 0 {
		p.code = http.StatusOK
	}
	return p.body.Write(b)
}
func (p *plainWriter) WriteHeader(code int) { p.code = code }

func TestWriterServerStatus(t *testing.T) {
	for _, tc := range []struct {
		name      string
		code      int
		wantErr   bool
		recorded  int
		committed bool
	}{
		{"ok", 200, false, 200, true},
		{"created", 201, false, 201, true},
		{"largest three-digit", 999, false, 999, true},
		{"informational does not commit", 103, false, 103, false},
		{"below 100 refused", 42, true, 0, false},
		{"negative refused", -1, true, 0, false},
		{"four digits refused", 1000, true, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			w := &plainWriter{header: http.Header{}}
			s := NewResponseWriterServer(w, slog.New(slog.NewTextHandler(&logs, nil)))
			err := s.WriteHeader(tc.code, nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if w.code != tc.recorded {
				t.Errorf("status written %d, want %d", w.code, tc.recorded)
			}
			if s.Committed() != tc.committed {
				t.Errorf("committed %v, want %v", s.Committed(), tc.committed)
			}
			if logged := strings.Contains(logs.String(), "invalid http status code"); logged != tc.wantErr {
				t.Errorf("log %q: invalid-status line present = %v, want %v", logs.String(), logged, tc.wantErr)
			}
		})
	}
}

func TestWriterServerSyncHeaderReplacesTheMap(t *testing.T) {
	w := &plainWriter{header: http.Header{"Old": {"1"}, "Kept": {"a"}}}
	s := NewResponseWriterServer(w, slog.Default())
	if err := s.SyncHeader(http.Header{"Kept": {"b"}, "New": {"x", "y"}}, nil); err != nil {
		t.Fatal(err)
	}
	want := http.Header{"Kept": {"b"}, "New": {"x", "y"}}
	if len(w.header) != len(want) || w.header.Get("Kept") != "b" || len(w.header["New"]) != 2 {
		t.Fatalf("header %v, want %v", w.header, want)
	}
}

func TestWriterServerFlushIsBestEffort(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := NewResponseWriterServer(rec, slog.Default()).Flush(struct{}{}, nil); err != nil || !rec.Flushed {
		t.Fatalf("flusher: err %v flushed %v, want a flush", err, rec.Flushed)
	}
	plain := &plainWriter{header: http.Header{}}
	s := NewResponseWriterServer(plain, slog.Default())
	if err := s.Flush(struct{}{}, nil); err != nil {
		t.Fatalf("a writer that cannot flush: err %v, want none", err)
	}
}

func TestWriterServerAfterClose(t *testing.T) {
	w := &plainWriter{header: http.Header{}}
	s := NewResponseWriterServer(w, slog.Default())
	s.Close()
	var header http.Header
	for name, call := range map[string]func() error{
		"Header":      func() error { return s.Header(struct{}{}, &header) },
		"SyncHeader":  func() error { return s.SyncHeader(http.Header{"A": {"1"}}, nil) },
		"Write":       func() error { return s.Write([]byte("late"), nil) },
		"WriteHeader": func() error { return s.WriteHeader(200, nil) },
		"Flush":       func() error { return s.Flush(struct{}{}, nil) },
	} {
		if err := call(); !errors.Is(err, ErrExchangeOver) {
			t.Errorf("%s after Close: %v, want ErrExchangeOver", name, err)
		}
	}
	if w.code != 0 || w.body.Len() != 0 || len(w.header) != 0 || s.Committed() {
		t.Fatalf("the writer was touched after Close: code %d body %q header %v", w.code, w.body.String(), w.header)
	}
}

func TestWriterServerWriteCommits(t *testing.T) {
	w := &plainWriter{header: http.Header{}}
	s := NewResponseWriterServer(w, slog.Default())
	if err := s.Write([]byte("abc"), nil); err != nil || !s.Committed() || w.body.String() != "abc" {
		t.Fatalf("err %v committed %v body %q", err, s.Committed(), w.body.String())
	}
}
