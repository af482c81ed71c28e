package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
	"github.com/streambench/host/internal/stats"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pluginFunc is a fake plugin's ServeHTTP handler.
type pluginFunc func(stream pb.PluginHooks_ServeHTTPServer) error

type fakePlugin struct {
	pb.UnimplementedPluginHooksServer
	serve pluginFunc
}

func (f *fakePlugin) ServeHTTP(stream pb.PluginHooks_ServeHTTPServer) error { return f.serve(stream) }

// startPlugin serves fn over an in-memory gRPC connection and returns a client.
func startPlugin(t testing.TB, fn pluginFunc) pb.PluginHooksClient {
	t.Helper()
	lis := bufconn.Listen(4 << 20)
	srv := grpc.NewServer()
	pb.RegisterPluginHooksServer(srv, &fakePlugin{serve: fn})
	go func() { _ = srv.Serve(lis) }()
	cc, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cc.Close()
		srv.Stop()
	})
	return pb.NewPluginHooksClient(cc)
}

// logBuffer is a goroutine-safe log sink for asserting on log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newBridge wires a Bridge to a fake plugin, logging into the returned buffer.
func newBridge(t testing.TB, fn pluginFunc) (*Bridge, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	return &Bridge{
		PluginID: "bench",
		Plugin:   startPlugin(t, fn),
		Log:      slog.New(slog.NewTextHandler(logs, nil)),
		Streams:  &stats.Streams{},
	}, logs
}

// replay is a fake plugin that reads the request init, sends msgs, then
// ends the stream with err (nil: OK).
func replay(err error, msgs ...*pb.ServeHTTPResponse) pluginFunc {
	return func(stream pb.PluginHooks_ServeHTTPServer) error {
		if _, rerr := stream.Recv(); rerr != nil {
			return rerr
		}
		for _, m := range msgs {
			if serr := stream.Send(m); serr != nil {
				return serr
			}
		}
		return err
	}
}

func initMsg(status int32, kv ...string) *pb.ServeHTTPResponse {
	init := &pb.ServeHTTPResponseInit{StatusCode: status}
	for i := 0; i+1 < len(kv); i += 2 {
		init.Headers = append(init.Headers, &pb.HTTPHeader{Key: kv[i], Values: []string{kv[i+1]}})
	}
	return &pb.ServeHTTPResponse{Init: init}
}

func chunk(s string) *pb.ServeHTTPResponse { return &pb.ServeHTTPResponse{BodyChunk: []byte(s)} }

func flushMsg() *pb.ServeHTTPResponse { return &pb.ServeHTTPResponse{Flush: true} }

func done() *pb.ServeHTTPResponse { return &pb.ServeHTTPResponse{BodyComplete: true} }

// recorder is an http.ResponseWriter (without http.Flusher) that records
// every call in order, with the header snapshot at WriteHeader.
type recorder struct {
	mu            sync.Mutex
	header        http.Header
	status        int
	headerCalls   int
	headerAtWrite http.Header
	body          bytes.Buffer
	events        []string
	statusSet     chan struct{} // closed by the first WriteHeader
}

func newRecorder() *recorder {
	return &recorder{header: make(http.Header), statusSet: make(chan struct{})}
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writeHeaderLocked(code)
}

func (r *recorder) writeHeaderLocked(code int) {
	r.headerCalls++
	if r.status == 0 {
		r.status = code
		r.headerAtWrite = r.header.Clone()
		close(r.statusSet)
	}
	r.events = append(r.events, fmt.Sprintf("status %d", code))
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status == 0 {
		r.writeHeaderLocked(http.StatusOK)
	}
	r.events = append(r.events, "write "+string(p))
	return r.body.Write(p)
}

func (r *recorder) snapshot() (int, []string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status, append([]string(nil), r.events...), r.body.String()
}

// flushRecorder adds http.Flusher.
type flushRecorder struct{ *recorder }

func (f flushRecorder) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, "flush")
}

// serve runs b.ServeHTTP and reports whether it aborted with
// http.ErrAbortHandler (any other panic fails the test).
func serve(t testing.TB, b http.Handler, w http.ResponseWriter, r *http.Request) (aborted bool) {
	t.Helper()
	defer func() {
		if v := recover(); v != nil {
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				aborted = true
				return
			}
			t.Fatalf("ServeHTTP panicked: %v", v)
		}
	}()
	b.ServeHTTP(w, r)
	return false
}

func mustContain(t testing.TB, logs *logBuffer, parts ...string) {
	t.Helper()
	got := logs.String()
	for _, p := range parts {
		if !strings.Contains(got, p) {
			t.Errorf("log lacks %q; log:\n%s", p, got)
		}
	}
}

// protocolServer serves b over HTTP/1.1 and h2c (prior knowledge), as hoststub
// does; wrap, when not nil, wraps its listener.
func protocolServer(t *testing.T, wrap func(net.Listener) net.Listener, b http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(b)
	if wrap != nil {
		srv.Listener = wrap(srv.Listener)
	}
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// protocolClient is a client over tr speaking HTTP/1.1, or h2c with prior
// knowledge; its idle connections close with the test.
func protocolClient(t *testing.T, tr *http.Transport, h2c bool) *http.Client {
	t.Helper()
	if h2c {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
