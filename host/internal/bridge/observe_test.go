package bridge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

// recordingObserver keeps every stream's events.
type recordingObserver struct {
	mu      sync.Mutex
	streams []*recordedStream
}

func (o *recordingObserver) StreamStarted() StreamObserver {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := &recordedStream{}
	o.streams = append(o.streams, s)
	return s
}

func (o *recordingObserver) only(t *testing.T) observed {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.streams) != 1 {
		t.Fatalf("%d streams observed, want 1", len(o.streams))
	}
	s := o.streams[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.observed
	got.outcomes = append([]Outcome(nil), s.outcomes...)
	return got
}

// observed is what one stream's observer saw.
type observed struct {
	started  int
	toClient int
	toPlugin int
	outcomes []Outcome
}

type recordedStream struct {
	mu sync.Mutex
	observed
}

func (s *recordedStream) ResponseStarted() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started++
}

func (s *recordedStream) BodyBytesToClient(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.toClient += n
}

func (s *recordedStream) BodyBytesToPlugin(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.toPlugin += n
}

func (s *recordedStream) StreamEnded(outcome Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outcomes = append(s.outcomes, outcome)
}

// drainThenAnswer reads the whole request body, then answers with body.
func drainThenAnswer(body string) pluginFunc {
	return func(s pb.PluginHooks_ServeHTTPServer) error {
		for {
			m, err := s.Recv()
			if err != nil {
				return err
			}
			if m.GetBodyComplete() {
				return s.Send(&pb.ServeHTTPResponse{Init: &pb.ServeHTTPResponseInit{StatusCode: 200},
					BodyChunk: []byte(body), BodyComplete: true})
			}
		}
	}
}

func TestObserverSeesBytesFirstByteAndOutcome(t *testing.T) {
	pluginErr := status.Error(codes.Internal, "plugin raised")
	for _, tc := range []struct {
		name     string
		plugin   pluginFunc
		buffered bool
		body     string
		want     observed
		aborted  bool
	}{
		{name: "download", plugin: replay(nil, initMsg(200), chunk("hello "), chunk("world"), done()),
			want: observed{started: 1, toClient: 11, outcomes: []Outcome{OutcomeOK}}},
		{name: "upload", plugin: drainThenAnswer("ok"), body: strings.Repeat("u", 100_000),
			want: observed{started: 1, toClient: 2, toPlugin: 100_000, outcomes: []Outcome{OutcomeOK}}},
		{name: "buffered download", plugin: replay(nil, initMsg(200), chunk("abc"), done()), buffered: true,
			want: observed{started: 1, toClient: 3, outcomes: []Outcome{OutcomeOK}}},
		{name: "failure before response-init", plugin: replay(pluginErr),
			want: observed{outcomes: []Outcome{OutcomeError}}},
		{name: "failure after response-init", plugin: replay(pluginErr, initMsg(200), chunk("part")),
			want: observed{started: 1, toClient: 4, outcomes: []Outcome{OutcomeAborted}}, aborted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := newBridge(t, tc.plugin)
			b.Buffered = tc.buffered
			observer := &recordingObserver{}
			b.Observer = observer
			req := get("/x")
			if tc.body != "" {
				req = httptest.NewRequest(http.MethodPost, "/upload", strings.NewReader(tc.body))
			}
			if aborted := serve(t, b, newRecorder(), req); aborted != tc.aborted {
				t.Fatalf("aborted = %v, want %v", aborted, tc.aborted)
			}
			if got := observer.only(t); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("observed %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestObservedWriterKeepsFlushAndFullDuplex(t *testing.T) {
	t.Run("flush reaches an http.Flusher through the wrapper", func(t *testing.T) {
		b, _ := newBridge(t, replay(nil, initMsg(200), chunk("a"), flushMsg(), chunk("b"), done()))
		b.Observer = &recordingObserver{}
		rec := newRecorder()
		serve(t, b, flushRecorder{rec}, get("/x"))
		if _, ev, _ := rec.snapshot(); !reflect.DeepEqual(ev, []string{"status 200", "write a", "flush", "write b"}) {
			t.Fatalf("events %q", ev)
		}
	})
	t.Run("echo over HTTP/1 while observed", func(t *testing.T) {
		observer := &recordingObserver{}
		b, _ := newBridge(t, func(s pb.PluginHooks_ServeHTTPServer) error {
			if _, err := s.Recv(); err != nil {
				return err
			}
			for {
				m, err := s.Recv()
				if err != nil {
					return err
				}
				if err := s.Send(&pb.ServeHTTPResponse{BodyChunk: m.GetBodyChunk(), Flush: true,
					BodyComplete: m.GetBodyComplete()}); err != nil || m.GetBodyComplete() {
					return err
				}
			}
		})
		b.Observer = observer
		srv := httptest.NewServer(b)
		defer srv.Close()
		pr, pw := io.Pipe()
		go func() {
			_, _ = pw.Write([]byte("ping"))
		}()
		resp, err := http.Post(srv.URL+"/echo", "application/octet-stream", pr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf := make([]byte, 4)
		// The echo arrives while the upload is still open: full duplex survived the wrapper.
		if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("echo %q %v", buf, err)
		}
		pw.Close()
		if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
			t.Fatalf("tail %q %v", rest, err)
		}
		srv.Close() // waits for the handler, so StreamEnded has run
		got := observer.only(t)
		if got.toPlugin != 4 || got.toClient != 4 || !reflect.DeepEqual(got.outcomes, []Outcome{OutcomeOK}) {
			t.Fatalf("observed %+v", got)
		}
	})
}
