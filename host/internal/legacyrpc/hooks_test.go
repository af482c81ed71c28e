package legacyrpc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/streambench/host/internal/testlog"

	"github.com/hashicorp/go-plugin"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// handlerPlugin is a plugin whose ServeHTTP is the test's handler.
type handlerPlugin struct {
	handler http.HandlerFunc
	stats   Stats
}

func (p *handlerPlugin) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler(w, r) }
func (p *handlerPlugin) Stats(collect bool) Stats {
	s := p.stats
	s.GCForced = collect
	return s
}

// connect serves impl over go-plugin's in-process net/rpc pair (a real
// yamux session and MuxBroker) and returns the host's hooks client.
func connect(t *testing.T, impl Plugin, logs io.Writer) *HooksClient {
	t.Helper()
	log := slog.New(slog.NewTextHandler(logs, nil))
	client, _ := plugin.TestPluginRPCConn(t, plugin.PluginSet{PluginName: &HooksPlugin{Impl: impl, Log: log}}, nil)
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(PluginName)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(*HooksClient)
}

func TestServeHTTPCarriesTheRequestAndTheResponse(t *testing.T) {
	seen := make(chan *http.Request, 1)
	seenBody := make(chan []byte, 1)
	hooks := connect(t, &handlerPlugin{handler: func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("plugin reading the body: %v", err)
		}
		seen <- r
		seenBody <- body
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Add("X-Multi", "one")
		w.Header().Add("X-Multi", "two")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("hello "))
		_, _ = w.Write([]byte("world"))
	}}, io.Discard)

	req := httptest.NewRequest(http.MethodPost, "/upload?x=1&x=2", strings.NewReader("request body"))
	req.Header.Set("X-Client", "yes")
	req.RemoteAddr = "192.0.2.1:1234"
	rec := httptest.NewRecorder()
	if err := hooks.ServeHTTP(rec, req); err != nil {
		t.Fatal(err)
	}
	r := <-seen
	if r.Method != http.MethodPost || r.URL.Path != "/upload" || r.URL.Query()["x"][1] != "2" ||
		r.Header.Get("X-Client") != "yes" || r.Host != "example.com" || r.RemoteAddr != "192.0.2.1:1234" ||
		r.RequestURI != "/upload?x=1&x=2" || r.ContentLength != int64(len("request body")) || r.ProtoMajor != 1 {
		t.Errorf("plugin saw %s %s host %q remote %q uri %q length %d header %v",
			r.Method, r.URL, r.Host, r.RemoteAddr, r.RequestURI, r.ContentLength, r.Header)
	}
	if body := <-seenBody; string(body) != "request body" {
		t.Errorf("plugin read body %q", body)
	}
	if rec.Code != http.StatusCreated || rec.Body.String() != "hello world" ||
		rec.Header().Get("Content-Type") != "text/plain" || len(rec.Header()["X-Multi"]) != 2 {
		t.Fatalf("client got %d %v %q", rec.Code, rec.Header(), rec.Body.String())
	}
}

func TestServeHTTPRefusesAnInvalidStatusWithoutPanicking(t *testing.T) {
	var logs testlog.Buffer
	hooks := connect(t, &handlerPlugin{handler: func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(42)
		_, _ = w.Write([]byte("after a bad status"))
	}}, &logs)
	rec := httptest.NewRecorder()
	if err := hooks.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status", nil)); err != nil {
		t.Fatal(err)
	}
	// As upstream: the status is not written, the write then sends net/http's 200.
	if rec.Code != http.StatusOK || rec.Body.String() != "after a bad status" {
		t.Fatalf("client got %d %q", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "invalid http status code: 42") {
		t.Fatalf("no log line for the refused status: %q", logs.String())
	}
}

func TestServeHTTPFlushReachesTheClientWriter(t *testing.T) {
	hooks := connect(t, &handlerPlugin{handler: func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("event"))
		w.(http.Flusher).Flush()
	}}, io.Discard)
	rec := httptest.NewRecorder()
	if err := hooks.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/sse", nil)); err != nil {
		t.Fatal(err)
	}
	if !rec.Flushed || rec.Body.String() != "event" {
		t.Fatalf("flushed %v body %q", rec.Flushed, rec.Body.String())
	}
}

// ctxBody is a request body that has nothing to give until ctx ends, then
// fails, as net/http's does when the client's connection goes.
type ctxBody struct{ ctx context.Context }

func (b ctxBody) Read([]byte) (int, error) {
	<-b.ctx.Done()
	return 0, b.ctx.Err()
}

// When the client goes, the host makes the plugin's next write fail and
// returns only once the plugin's handler has.
func TestServeHTTPClientGoneStopsThePluginWriting(t *testing.T) {
	for _, tc := range []struct {
		name      string
		committed bool
		handler   func(w http.ResponseWriter, r *http.Request, started chan<- struct{}) error
	}{
		{"waiting for the body, before the status", false, func(w http.ResponseWriter, r *http.Request, started chan<- struct{}) error {
			close(started)
			_, _ = io.Copy(io.Discard, r.Body) // ends when the host cuts the body stream
			_, err := w.Write([]byte("answer"))
			return err
		}},
		{"mid-body", true, func(w http.ResponseWriter, _ *http.Request, started chan<- struct{}) error {
			if _, err := w.Write([]byte("first bytes")); err != nil {
				return err
			}
			close(started)
			for {
				if _, err := w.Write([]byte("more")); err != nil {
					return err
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started := make(chan struct{})
			writeErr := make(chan error, 1)
			hooks := connect(t, &handlerPlugin{handler: func(w http.ResponseWriter, r *http.Request) {
				writeErr <- tc.handler(w, r, started)
			}}, io.Discard)
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				<-started
				cancel()
			}()
			req := httptest.NewRequest(http.MethodPost, "/x", ctxBody{ctx}).WithContext(ctx)
			rec := httptest.NewRecorder()
			err := hooks.ServeHTTP(rec, req)
			var failure *Failure
			if !errors.As(err, &failure) || failure.Committed != tc.committed {
				t.Fatalf("err %#v, want a failure with committed=%v", err, tc.committed)
			}
			if !failure.ClientGone && !failure.BodyFailed {
				t.Fatalf("failure %+v, want the client gone or its body failed", failure)
			}
			select {
			case werr := <-writeErr:
				if werr == nil {
					t.Fatal("the plugin's write succeeded after the client went")
				}
			default:
				t.Fatal("ServeHTTP returned before the plugin's handler did")
			}
			if !tc.committed && rec.Body.Len() != 0 {
				t.Fatalf("the client was written to: %q", rec.Body.String())
			}
		})
	}
}

func TestServeHTTPBodyFailureEndsTheExchange(t *testing.T) {
	broken := errors.New("connection reset by client")
	readDone := make(chan error, 1)
	hooks := connect(t, &handlerPlugin{handler: func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		readDone <- err
		_, _ = w.Write([]byte(`{"bytes": 5}`)) // the host refuses: the exchange is over
	}}, io.Discard)
	body := io.MultiReader(strings.NewReader("12345"), iotest.ErrReader(broken))
	rec := httptest.NewRecorder()
	err := hooks.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/upload", body))
	var failure *Failure
	if !errors.As(err, &failure) || !failure.BodyFailed || !errors.Is(err, broken) || failure.Committed {
		t.Fatalf("err %v, want an uncommitted body failure wrapping the cause", err)
	}
	if rec.Body.Len() != 0 {
		t.Fatalf("the plugin's answer to a broken body reached the client: %q", rec.Body.String())
	}
	if err := <-readDone; err != nil {
		t.Fatalf("plugin read: %v (the stream ends, it carries no error)", err)
	}
}

func TestServeHTTPManyAtOnce(t *testing.T) {
	hooks := connect(t, &handlerPlugin{handler: func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write(bytes.ToUpper(body))
	}}, io.Discard)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			payload := strings.Repeat(string(rune('a'+i%26)), 1000+i)
			rec := httptest.NewRecorder()
			if err := hooks.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/echo", strings.NewReader(payload))); err != nil {
				t.Error(err)
				return
			}
			if rec.Body.String() != strings.ToUpper(payload) {
				t.Errorf("request %d: got %d bytes back, not its own", i, rec.Body.Len())
			}
		})
	}
	wg.Wait()
}

func TestStatsOverRPC(t *testing.T) {
	hooks := connect(t, &handlerPlugin{stats: Stats{PID: 4242, RSSBytes: 1 << 20, Goroutines: 7}}, io.Discard)
	st, err := hooks.Stats(context.Background(), true)
	if err != nil || st.PID != 4242 || st.RSSBytes != 1<<20 || st.Goroutines != 7 || !st.GCForced {
		t.Fatalf("stats %+v err %v", st, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := hooks.Stats(ctx, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("stats with a done context: %v", err)
	}
}
