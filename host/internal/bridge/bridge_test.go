package bridge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

func get(path string) *http.Request { return httptest.NewRequest(http.MethodGet, path, nil) }

func TestResponseAppliedOnceAndStreamedInOrder(t *testing.T) {
	multi := &pb.ServeHTTPResponse{Init: &pb.ServeHTTPResponseInit{StatusCode: 201, Headers: []*pb.HTTPHeader{
		{Key: "Set-Cookie", Values: []string{"a=1", "b=2"}},
		{Key: "X-Multi", Values: []string{"x", "y"}},
	}}}
	b, _ := newBridge(t, replay(nil, multi, chunk("one"), flushMsg(), chunk("two"),
		&pb.ServeHTTPResponse{BodyChunk: []byte("three"), Flush: true}, chunk("four"), done()))

	for _, tc := range []struct {
		name   string
		writer func(*recorder) http.ResponseWriter
		want   []string
	}{
		{"with flusher", func(r *recorder) http.ResponseWriter { return flushRecorder{r} },
			[]string{"status 201", "write one", "flush", "write two", "write three", "flush", "write four"}},
		{"without flusher (flush is a no-op)", func(r *recorder) http.ResponseWriter { return r },
			[]string{"status 201", "write one", "write two", "write three", "write four"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			if serve(t, b, tc.writer(rec), get("/download")) {
				t.Fatal("aborted")
			}
			st, events, body := rec.snapshot()
			if st != 201 || rec.headerCalls != 1 {
				t.Fatalf("status %d after %d WriteHeader calls, want 201 once", st, rec.headerCalls)
			}
			if !reflect.DeepEqual(events, tc.want) {
				t.Fatalf("events %q, want %q", events, tc.want)
			}
			if body != "onetwothreefour" {
				t.Fatalf("body %q", body)
			}
			if got := rec.headerAtWrite.Values("Set-Cookie"); !reflect.DeepEqual(got, []string{"a=1", "b=2"}) {
				t.Fatalf("Set-Cookie at WriteHeader = %q", got)
			}
			if got := rec.headerAtWrite.Values("X-Multi"); !reflect.DeepEqual(got, []string{"x", "y"}) {
				t.Fatalf("X-Multi at WriteHeader = %q", got)
			}
		})
	}
}

func TestImplicitInitIs200(t *testing.T) {
	b, _ := newBridge(t, replay(nil, &pb.ServeHTTPResponse{BodyChunk: []byte("hi"), BodyComplete: true}))
	rec := newRecorder()
	serve(t, b, rec, get("/x"))
	if st, ev, _ := rec.snapshot(); st != 200 || ev[0] != "status 200" || ev[1] != "write hi" {
		t.Fatalf("status %d events %q", st, ev)
	}
}

func TestEventStreamFlushesEveryChunk(t *testing.T) {
	b, _ := newBridge(t, replay(nil, initMsg(200, "Content-Type", "text/event-stream; charset=utf-8"),
		chunk("data: 1\n\n"), chunk("data: 2\n\n"), done()))
	rec := newRecorder()
	serve(t, b, flushRecorder{rec}, get("/sse"))
	_, ev, _ := rec.snapshot()
	want := []string{"status 200", "write data: 1\n\n", "flush", "write data: 2\n\n", "flush"}
	if !reflect.DeepEqual(ev, want) {
		t.Fatalf("events %q, want %q", ev, want)
	}
}

func TestStatusCodes(t *testing.T) {
	for _, tc := range []struct {
		sent, want int32
	}{
		{-1, 500}, {0, 200}, {42, 500}, {99, 500}, {101, 500}, {1000, 500}, {65535, 500},
		{200, 200}, {204, 204}, {404, 404}, {599, 599}, {999, 999},
	} {
		b, logs := newBridge(t, replay(nil, initMsg(tc.sent), done()))
		rec := newRecorder()
		if serve(t, b, rec, get("/status")) {
			t.Fatalf("status %d: aborted", tc.sent)
		}
		if st, _, _ := rec.snapshot(); int32(st) != tc.want || rec.headerCalls != 1 {
			t.Errorf("plugin status %d: client got %d (%d WriteHeader calls), want %d once", tc.sent, st, rec.headerCalls, tc.want)
		}
		if tc.want == 500 {
			mustContain(t, logs, "plugin_id=bench", "path=/status", "invalid status code", "status")
		}
	}
}

func TestInvalidResponseHeadersAre500(t *testing.T) {
	for _, tc := range []struct{ name, key, value string }{
		{"CRLF in value", "X-Ok", "a\r\nSet-Cookie: evil=1"},
		{"LF in value", "X-Ok", "a\nb"},
		{"NUL in value", "X-Ok", "a\x00b"},
		{"CR in name", "X-Bad\r", "v"},
		{"space in name", "X Bad", "v"},
		{"empty name", "", "v"},
		{"colon in name", "X:Bad", "v"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, logs := newBridge(t, replay(nil, initMsg(200, "X-Fine", "ok", tc.key, tc.value), chunk("body"), done()))
			rec := newRecorder()
			serve(t, b, rec, get("/headers"))
			st, _, body := rec.snapshot()
			if st != 500 || strings.Contains(body, "body") {
				t.Fatalf("got %d %q, want 500 without the plugin's body", st, body)
			}
			if rec.headerAtWrite.Get("X-Fine") != "" || rec.headerAtWrite.Get("Set-Cookie") != "" {
				t.Fatalf("plugin headers leaked into the 500: %v", rec.headerAtWrite)
			}
			mustContain(t, logs, "plugin_id=bench", "path=/headers", "invalid response header")
		})
	}
}

// TestProtocolViolations: each violation before response-init is a 500,
// after it an aborted response; every one is logged with its reason.
func TestProtocolViolations(t *testing.T) {
	big := strings.Repeat("z", 4096)
	for _, tc := range []struct {
		name      string
		plugin    pluginFunc
		wantAbort bool
		reason    string
	}{
		{"stream ends before init", replay(nil), false, "without body_complete"},
		{"stream ends after init", replay(nil, initMsg(200), chunk("partial")), true, "without body_complete"},
		{"second init", replay(nil, initMsg(200), chunk("a"), initMsg(200), done()), true, "second response-init"},
		{"second init on first message pair", replay(nil, initMsg(200), initMsg(404)), true, "second response-init"},
		{"message after body_complete", replay(nil, initMsg(200), chunk("a"), done(), chunk("late")), true, "message after body_complete"},
		{"oversize message before init", replay(nil, chunk(big)), false, "larger than max-message-bytes"},
		{"oversize message after init", replay(nil, initMsg(200), chunk("a"), chunk(big)), true, "larger than max-message-bytes"},
		{"plugin error before init", replay(status.Error(codes.Internal, "boom")), false, "plugin failed"},
		{"plugin error after init", replay(status.Error(codes.Internal, "boom"), initMsg(200), chunk("a")), true, "plugin failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, logs := newBridge(t, tc.plugin)
			b.MaxMessageBytes = 1024
			rec := newRecorder()
			aborted := serve(t, b, rec, get("/proto"))
			if aborted != tc.wantAbort {
				t.Fatalf("aborted=%v, want %v", aborted, tc.wantAbort)
			}
			st, _, _ := rec.snapshot()
			if !tc.wantAbort && st != 500 {
				t.Fatalf("status %d, want 500", st)
			}
			if rec.headerCalls > 1 {
				t.Fatalf("%d WriteHeader calls", rec.headerCalls)
			}
			mustContain(t, logs, "plugin_id=bench", "path=/proto", tc.reason)
		})
	}
}

// blockingBody blocks in Read until Close, like a client that never sends
// its body.
type blockingBody struct {
	closed    chan struct{}
	closeOnce sync.Once
}

func newBlockingBody() *blockingBody { return &blockingBody{closed: make(chan struct{})} }

func (b *blockingBody) Read([]byte) (int, error) {
	<-b.closed
	return 0, io.ErrClosedPipe
}

func (b *blockingBody) Close() error {
	b.closeOnce.Do(func() { close(b.closed) })
	return nil
}

func TestEarlyResponseStopsBlockedRequestPump(t *testing.T) {
	b, logs := newBridge(t, replay(nil, initMsg(202), chunk("early"), done()))
	body := newBlockingBody()
	req := httptest.NewRequest(http.MethodPost, "/early", body)
	rec := newRecorder()
	finished := make(chan bool)
	go func() { finished <- serve(t, b, rec, req) }()
	select {
	case aborted := <-finished:
		if aborted {
			t.Fatal("aborted")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ServeHTTP still blocked on the request body after the early response")
	}
	if strings.Contains(logs.String(), "did not stop") {
		t.Fatalf("ServeHTTP returned only by giving up on the pump:\n%s", logs)
	}
	if st, _, got := rec.snapshot(); st != 202 || got != "early" {
		t.Fatalf("got %d %q", st, got)
	}
	select {
	case <-body.closed:
	default:
		t.Fatal("request body was not closed to stop the pump")
	}
	if b.Streams.Active() != 0 {
		t.Fatalf("active streams %d after return", b.Streams.Active())
	}
}

// TestEarlyResponseOverHTTP: a real server and a client whose upload never
// ends; the response arrives and the handler returns (goleak checks the pump).
func TestEarlyResponseOverHTTP(t *testing.T) {
	b, _ := newBridge(t, replay(nil, initMsg(200), chunk("early"), done()))
	srv := httptest.NewServer(b)
	defer srv.Close()
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write([]byte("some of the body")) }()
	resp, err := http.Post(srv.URL+"/early", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(got) != "early" {
		t.Fatalf("body %q err %v", got, err)
	}
	waitFor(t, func() bool { return b.Streams.Active() == 0 }, "handler to return")
}

func TestAbortAfterInitIsVisibleToClient(t *testing.T) {
	b, logs := newBridge(t, replay(status.Error(codes.Unknown, "plugin raised"), initMsg(200),
		&pb.ServeHTTPResponse{BodyChunk: []byte("partial"), Flush: true}))
	srv := httptest.NewServer(b)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/fail")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading a body the plugin failed in the middle of: err=%v, want io.ErrUnexpectedEOF", err)
	}
	mustContain(t, logs, "plugin failed", "outcome=abort", "path=/fail")
}

func TestAbortBeforeInitIs500OverHTTP(t *testing.T) {
	b, _ := newBridge(t, replay(status.Error(codes.Unknown, "plugin raised")))
	srv := httptest.NewServer(b)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/fail")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestClientCancelCancelsPluginStream(t *testing.T) {
	observed := make(chan struct{})
	b, _ := newBridge(t, func(s pb.PluginHooks_ServeHTTPServer) error {
		if _, err := s.Recv(); err != nil {
			return err
		}
		if err := s.Send(&pb.ServeHTTPResponse{Init: &pb.ServeHTTPResponseInit{}, BodyChunk: []byte("first"), Flush: true}); err != nil {
			return err
		}
		<-s.Context().Done()
		close(observed)
		return s.Context().Err()
	})
	srv := httptest.NewServer(b)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/hang", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("first chunk %q %v", buf, err)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-observed:
	case <-time.After(20 * time.Second):
		t.Fatal("plugin stream not cancelled after the client went away")
	}
}

func TestPluginTimeoutIs504(t *testing.T) {
	cancelled := make(chan struct{})
	b, logs := newBridge(t, func(s pb.PluginHooks_ServeHTTPServer) error {
		<-s.Context().Done()
		close(cancelled)
		return nil
	})
	b.InitTimeout = 100 * time.Millisecond
	rec := newRecorder()
	// The plugin never answers: only the timeout can end the request.
	serve(t, b, rec, get("/hang"))
	if st, _, _ := rec.snapshot(); st != 504 {
		t.Fatalf("status %d, want 504", st)
	}
	waitClosed(t, cancelled, "the plugin's stream to be cancelled")
	mustContain(t, logs, "no response-init within plugin-timeout")
}

func TestNotReadyIs503WithoutContactingPlugin(t *testing.T) {
	var calls atomic.Int32
	b, logs := newBridge(t, func(s pb.PluginHooks_ServeHTTPServer) error { calls.Add(1); return nil })
	b.Ready = func() bool { return false }
	rec := newRecorder()
	serve(t, b, rec, get("/x"))
	if st, _, _ := rec.snapshot(); st != 503 || calls.Load() != 0 {
		t.Fatalf("status %d, plugin calls %d", st, calls.Load())
	}
	mustContain(t, logs, "plugin unavailable")
}

// drainRequest is a plugin that reads the request to body_complete (or
// error), then answers with the byte count.
func drainRequest(initFirst bool) pluginFunc {
	return func(s pb.PluginHooks_ServeHTTPServer) error {
		if initFirst {
			if err := s.Send(initMsg(200)); err != nil {
				return err
			}
		}
		n := 0
		for {
			m, err := s.Recv()
			if err != nil {
				return err
			}
			n += len(m.GetBodyChunk())
			if m.GetBodyComplete() {
				break
			}
		}
		return s.Send(&pb.ServeHTTPResponse{BodyChunk: bytes.Repeat([]byte("."), n), BodyComplete: true})
	}
}

func TestMaxBodyBytes(t *testing.T) {
	t.Run("declared length over limit: 413 without the plugin", func(t *testing.T) {
		var calls atomic.Int32
		b, _ := newBridge(t, func(s pb.PluginHooks_ServeHTTPServer) error { calls.Add(1); return nil })
		b.MaxBodyBytes = 10
		rec := newRecorder()
		serve(t, b, rec, httptest.NewRequest(http.MethodPost, "/upload", strings.NewReader(strings.Repeat("x", 11))))
		if st, _, _ := rec.snapshot(); st != 413 || calls.Load() != 0 {
			t.Fatalf("status %d, plugin calls %d", st, calls.Load())
		}
	})
	t.Run("at the limit passes", func(t *testing.T) {
		b, _ := newBridge(t, drainRequest(false))
		b.MaxBodyBytes = 10
		rec := newRecorder()
		serve(t, b, rec, httptest.NewRequest(http.MethodPost, "/upload", strings.NewReader(strings.Repeat("x", 10))))
		if st, _, body := rec.snapshot(); st != 200 || len(body) != 10 {
			t.Fatalf("status %d body %d bytes", st, len(body))
		}
	})
	for _, tc := range []struct {
		name      string
		initFirst bool
		wantAbort bool
	}{{"exceeded mid-upload before init: 413", false, false}, {"exceeded mid-upload after init: abort", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			b, logs := newBridge(t, drainRequest(tc.initFirst))
			b.MaxBodyBytes = 10
			b.RequestChunkBytes = 4
			// Unknown length (like a chunked upload), so only the reader can tell.
			rec := newRecorder()
			var body io.Reader = strings.NewReader(strings.Repeat("x", 100))
			if tc.initFirst {
				// Hold the body back until response-init is applied, so the
				// limit is crossed after it, deterministically.
				body = &afterStatus{rec: rec, r: body}
			}
			req := httptest.NewRequest(http.MethodPost, "/upload", io.MultiReader(body))
			req.ContentLength = -1
			aborted := serve(t, b, rec, req)
			if aborted != tc.wantAbort {
				t.Fatalf("aborted=%v", aborted)
			}
			if st, _, _ := rec.snapshot(); !tc.wantAbort && st != 413 {
				t.Fatalf("status %d, want 413", st)
			}
			mustContain(t, logs, "request body larger than max-body-bytes")
		})
	}
}

func TestRequestInitAndBodyReachPlugin(t *testing.T) {
	var got *pb.ServeHTTPRequestInit
	var gotBody bytes.Buffer
	var messages int
	b, _ := newBridge(t, func(s pb.PluginHooks_ServeHTTPServer) error {
		for {
			m, err := s.Recv()
			if err != nil {
				return err
			}
			messages++
			if m.GetInit() != nil {
				got = m.GetInit()
			}
			gotBody.Write(m.GetBodyChunk())
			if m.GetBodyComplete() {
				return s.Send(done())
			}
		}
	})
	b.RequestChunkBytes = 3
	req := httptest.NewRequest(http.MethodPost, "/upload?x=1&y=2", io.MultiReader(strings.NewReader("hello world")))
	req.ContentLength = -1
	req.RequestURI = "/plugins/bench/upload?x=1&y=2"
	req.Header.Set("Mattermost-User-Id", "forged")
	req.Header.Set("Accept-Language", "fr")
	req.Header.Set("User-Agent", "test-agent")
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	serve(t, b, newRecorder(), req)

	if gotBody.String() != "hello world" || messages < 5 {
		t.Fatalf("body %q in %d messages (chunks of 3 expected)", gotBody.String(), messages)
	}
	if got.GetUrl() != "/upload?x=1&y=2" || got.GetRequestUri() != "/plugins/bench/upload?x=1&y=2" ||
		got.GetMethod() != "POST" || got.GetContentLength() != -1 || got.GetHost() != "example.com" {
		t.Fatalf("init %v", got)
	}
	pc := got.GetPluginContext()
	if pc.GetAcceptLanguage() != "fr" || pc.GetUserAgent() != "test-agent" || pc.GetIpAddress() != "192.0.2.1" || len(pc.GetRequestId()) != 26 {
		t.Fatalf("plugin context %v", pc)
	}
	for _, h := range got.GetHeaders() {
		if strings.EqualFold(h.GetKey(), UserIDHeader) {
			t.Fatal("client Mattermost-User-Id forwarded to the plugin")
		}
		if h.GetKey() == "X-Multi" && !reflect.DeepEqual(h.GetValues(), []string{"a", "b"}) {
			t.Fatalf("X-Multi %q", h.GetValues())
		}
	}
}

// TestFullDuplexEcho: the client reads the echo of each chunk before it
// sends the next one, which only works if upload and download overlap.
func TestFullDuplexEcho(t *testing.T) {
	b, _ := newBridge(t, func(s pb.PluginHooks_ServeHTTPServer) error {
		if _, err := s.Recv(); err != nil {
			return err
		}
		if err := s.Send(initMsg(200)); err != nil {
			return err
		}
		for {
			m, err := s.Recv()
			if err != nil {
				return err
			}
			if len(m.GetBodyChunk()) > 0 {
				if err := s.Send(&pb.ServeHTTPResponse{BodyChunk: m.GetBodyChunk(), Flush: true}); err != nil {
					return err
				}
			}
			if m.GetBodyComplete() {
				return s.Send(done())
			}
		}
	})
	srv := httptest.NewServer(b)
	defer srv.Close()
	pr, pw := io.Pipe()
	respCh := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Post(srv.URL+"/echo", "application/octet-stream", pr)
		if err != nil {
			pr.CloseWithError(err)
			close(respCh)
			return
		}
		respCh <- resp
	}()
	if _, err := pw.Write([]byte("ping-0")); err != nil {
		t.Fatal(err)
	}
	resp := <-respCh
	if resp == nil {
		t.Fatal("no response")
	}
	defer resp.Body.Close()
	buf := make([]byte, 6)
	for i := range 3 {
		if i > 0 {
			if _, err := pw.Write([]byte("ping-" + string(rune('0'+i)))); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "ping-"+string(rune('0'+i)) {
			t.Fatalf("echo %d: %q %v", i, buf, err)
		}
	}
	pw.Close()
	if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
		t.Fatalf("tail %q %v", rest, err)
	}
}

func TestBufferedModeHoldsResponseUntilComplete(t *testing.T) {
	t.Run("complete", func(t *testing.T) {
		b, _ := newBridge(t, replay(nil, initMsg(201, "X-A", "1"), chunk("a"), flushMsg(), chunk("b"), done()))
		b.Buffered = true
		rec := newRecorder()
		serve(t, b, flushRecorder{rec}, get("/download"))
		if st, ev, _ := rec.snapshot(); st != 201 || !reflect.DeepEqual(ev, []string{"status 201", "write ab"}) {
			t.Fatalf("status %d events %q", st, ev)
		}
	})
	t.Run("failure after init is still a clean 500", func(t *testing.T) {
		b, _ := newBridge(t, replay(status.Error(codes.Internal, "x"), initMsg(200), chunk("a")))
		b.Buffered = true
		rec := newRecorder()
		if serve(t, b, rec, get("/fail")) {
			t.Fatal("aborted")
		}
		if st, _, body := rec.snapshot(); st != 500 || strings.Contains(body, "a\n") && !strings.Contains(body, "Internal") {
			t.Fatalf("status %d body %q", st, body)
		}
	})
}

func TestClientWriteErrorCancelsStream(t *testing.T) {
	cancelled := make(chan struct{})
	b, logs := newBridge(t, func(s pb.PluginHooks_ServeHTTPServer) error {
		if _, err := s.Recv(); err != nil {
			return err
		}
		for s.Context().Err() == nil {
			if s.Send(chunk("data")) != nil {
				break
			}
		}
		<-s.Context().Done()
		close(cancelled)
		return nil
	})
	if !serve(t, b, failingWriter{newRecorder()}, get("/download")) {
		t.Fatal("want abort after a write error")
	}
	waitClosed(t, cancelled, "the plugin stream to be cancelled after a client write error")
	mustContain(t, logs, "writing the response to the client failed")
}

type failingWriter struct{ *recorder }

func (f failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second) // generous: a loaded 2-core machine
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// afterStatus delays reads until rec has a status.
type afterStatus struct {
	rec *recorder
	r   io.Reader
}

func (a *afterStatus) Read(p []byte) (int, error) {
	<-a.rec.statusSet
	return a.r.Read(p)
}

// smallReads returns at most step bytes per Read, like an HTTP/1 body that
// hands out one socket read or one chunked-encoding chunk at a time, and
// counts what it handed out.
type smallReads struct {
	r    io.Reader
	step int

	mu   sync.Mutex
	cond sync.Cond
	read int
}

func newSmallReads(r io.Reader, step int) *smallReads {
	s := &smallReads{r: r, step: step}
	s.cond.L = &s.mu
	return s
}

func (s *smallReads) Read(p []byte) (int, error) {
	n, err := s.r.Read(p[:min(len(p), s.step)])
	s.mu.Lock()
	s.read += n
	s.cond.Broadcast()
	s.mu.Unlock()
	return n, err
}

// waitRead waits until at least n bytes were read, or fails after a bound
// generous for a loaded machine (a pump that never reads ahead).
func (s *smallReads) waitRead(t *testing.T, n int) {
	timer := time.AfterFunc(20*time.Second, func() { s.mu.Lock(); s.read = -1 << 40; s.cond.Broadcast(); s.mu.Unlock() })
	defer timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.read >= 0 && s.read < n {
		s.cond.Wait()
	}
	if s.read < 0 {
		t.Errorf("the request pump never read %d bytes ahead of the plugin", n)
	}
}

// TestRequestPumpCoalescesShortReads: short body reads that arrive while a
// Send is in progress leave as fuller messages (never above the chunk size),
// in order; the plugin's cost is per message.
func TestRequestPumpCoalescesShortReads(t *testing.T) {
	const size, step, chunkBytes = 1 << 20, 512, 64 << 10
	var got bytes.Buffer
	var messages, largest int
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i % 251)
	}
	body := newSmallReads(bytes.NewReader(want), step)
	b, _ := newBridge(t, func(s pb.PluginHooks_ServeHTTPServer) error {
		if _, err := s.Recv(); err != nil {
			return err
		}
		for {
			// A plugin slower than the client: it takes the next message only
			// once the host has read a chunk ahead, so short reads pile up
			// while a send is in progress, whatever the scheduling.
			body.waitRead(t, min(size, got.Len()+chunkBytes))
			m, err := s.Recv()
			if err != nil {
				return err
			}
			if n := len(m.GetBodyChunk()); n > 0 {
				messages++
				largest = max(largest, n)
				got.Write(m.GetBodyChunk())
			}
			if m.GetBodyComplete() {
				return s.Send(&pb.ServeHTTPResponse{BodyComplete: true})
			}
		}
	})
	b.RequestChunkBytes = chunkBytes
	req := httptest.NewRequest(http.MethodPost, "/plugins/bench/upload", io.NopCloser(body))
	req.ContentLength = -1
	rec := newRecorder()
	serve(t, b, rec, req)
	if st, _, _ := rec.snapshot(); st != http.StatusOK || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("status %d, body intact %v", st, bytes.Equal(got.Bytes(), want))
	}
	t.Logf("%d reads of %d B became %d messages (largest %d B)", size/step, step, messages, largest)
	if reads := size / step; messages > reads/8 || largest > chunkBytes {
		t.Fatalf("%d reads of %d B became %d messages (largest %d B, limit %d)", reads, step, messages, largest, chunkBytes)
	}
}
