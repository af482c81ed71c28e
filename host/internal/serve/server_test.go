package serve

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		level     string
		wantErr   bool
		debugSeen bool
	}{
		{"debug", false, true},
		{"info", false, false},
		{"WARN", false, false},
		{"loud", true, false},
		{"", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.level, func(t *testing.T) {
			var out bytes.Buffer
			log, err := NewLogger(tc.level, &out)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "--log-level") {
					t.Fatalf("NewLogger(%q) err = %v, want an error naming --log-level", tc.level, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewLogger(%q): %v", tc.level, err)
			}
			log.Debug("detail")
			if got := strings.Contains(out.String(), "detail"); got != tc.debugSeen {
				t.Fatalf("level %q: debug line written = %v, want %v", tc.level, got, tc.debugSeen)
			}
		})
	}
}

// The server speaks h2c with prior knowledge as well as HTTP/1.1: HTTP/2 load
// tools connect without TLS.
func TestNewServerSpeaksH2C(t *testing.T) {
	var out bytes.Buffer
	log, err := NewLogger("info", &out)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}), log)
	if srv.ReadTimeout != 0 || srv.WriteTimeout != 0 {
		t.Fatalf("whole-request timeouts set (%s, %s): they would cut long transfers", srv.ReadTimeout, srv.WriteTimeout)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- UntilDone(ctx, srv, ln, 0, func() int64 { return 0 }, log) }()
	defer func() { cancel(); <-done }()

	for _, tc := range []struct {
		name  string
		h2c   bool
		proto string
	}{{"HTTP/1.1", false, "HTTP/1.1"}, {"h2c prior knowledge", true, "HTTP/2.0"}} {
		t.Run(tc.name, func(t *testing.T) {
			transport := &http.Transport{}
			if tc.h2c {
				transport.Protocols = new(http.Protocols)
				transport.Protocols.SetUnencryptedHTTP2(true)
			}
			defer transport.CloseIdleConnections()
			resp, err := (&http.Client{Transport: transport}).Get("http://" + ln.Addr().String() + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if string(body) != tc.proto {
				t.Fatalf("served over %q, want %q", body, tc.proto)
			}
		})
	}
}
