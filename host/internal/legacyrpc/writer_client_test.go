package legacyrpc

import (
	"errors"
	"net"
	"net/http"
	"net/rpc"
	"reflect"
	"sync"
	"testing"
)

// fakeWriterServer is a response-writer RPC server that records each call it
// gets, so the tests count the round trips a writer method costs.
type fakeWriterServer struct {
	mu     sync.Mutex
	calls  []string
	synced []http.Header
	writes [][]byte
	codes  []int
	failOn string // method name that answers an error
	header http.Header
}

func (f *fakeWriterServer) record(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	if name == f.failOn {
		return errors.New("fake failure in " + name)
	}
	return nil
}

func (f *fakeWriterServer) Header(_ struct{}, reply *http.Header) error {
	*reply = f.header
	return f.record("Header")
}

func (f *fakeWriterServer) SyncHeader(h http.Header, _ *struct{}) error {
	f.mu.Lock()
	f.synced = append(f.synced, h)
	f.mu.Unlock()
	return f.record("SyncHeader")
}

func (f *fakeWriterServer) Write(b []byte, _ *struct{}) error {
	f.mu.Lock()
	f.writes = append(f.writes, b)
	f.mu.Unlock()
	return f.record("Write")
}

func (f *fakeWriterServer) WriteHeader(code int, _ *struct{}) error {
	f.mu.Lock()
	f.codes = append(f.codes, code)
	f.mu.Unlock()
	return f.record("WriteHeader")
}

func (f *fakeWriterServer) Flush(_ struct{}, _ *struct{}) error { return f.record("Flush") }

func (f *fakeWriterServer) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.synced, f.writes, f.codes = nil, nil, nil, nil
}

// connectFake serves fake over one end of a pipe and returns a writer on the
// other, as the plugin has over its response-writer stream.
func connectFake(t *testing.T, fake *fakeWriterServer) *ResponseWriterClient {
	t.Helper()
	hostEnd, pluginEnd := net.Pipe()
	server := rpc.NewServer()
	if err := server.RegisterName("Plugin", fake); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		server.ServeConn(hostEnd)
	}()
	w := NewResponseWriterClient(pluginEnd)
	t.Cleanup(func() {
		_ = w.Close()
		<-done
	})
	return w
}

func TestWriterCallsPerMethod(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failOn string
		do     func(w *ResponseWriterClient) error
		calls  []string
	}{
		{"Write is two calls", "", func(w *ResponseWriterClient) error {
			_, err := w.Write([]byte("abc"))
			return err
		}, []string{"SyncHeader", "Write"}},
		{"WriteHeader is two calls", "", func(w *ResponseWriterClient) error {
			w.WriteHeader(http.StatusCreated)
			return nil
		}, []string{"SyncHeader", "WriteHeader"}},
		{"Flush is two calls", "", func(w *ResponseWriterClient) error {
			w.Flush()
			return nil
		}, []string{"SyncHeader", "Flush"}},
		{"Header is one call, the first time only", "", func(w *ResponseWriterClient) error {
			w.Header().Set("A", "1")
			w.Header().Set("B", "2")
			return nil
		}, []string{"Header"}},
		{"a failed header sync stops the write", "SyncHeader", func(w *ResponseWriterClient) error {
			if n, err := w.Write([]byte("abc")); err == nil || n != 0 {
				return errors.New("write succeeded after a failed header sync")
			}
			return nil
		}, []string{"SyncHeader"}},
		{"a failed write is the write's error", "Write", func(w *ResponseWriterClient) error {
			if n, err := w.Write([]byte("abc")); err == nil || n != 0 {
				return errors.New("write reported success the host refused")
			}
			return nil
		}, []string{"SyncHeader", "Write"}},
		{"a failed flush is not reported (best effort)", "Flush", func(w *ResponseWriterClient) error {
			w.Flush()
			return nil
		}, []string{"SyncHeader", "Flush"}},
		{"a refused status is not a panic", "WriteHeader", func(w *ResponseWriterClient) error {
			w.WriteHeader(42)
			return nil
		}, []string{"SyncHeader", "WriteHeader"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeWriterServer{failOn: tc.failOn, header: http.Header{}}
			w := connectFake(t, fake)
			if err := tc.do(w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fake.calls, tc.calls) {
				t.Fatalf("calls %v, want %v", fake.calls, tc.calls)
			}
		})
	}
}

func TestWriterSyncsTheHeaderBeforeEachWrite(t *testing.T) {
	fake := &fakeWriterServer{header: http.Header{"Server-Set": {"x"}}}
	w := connectFake(t, fake)
	if got := w.Header().Get("Server-Set"); got != "x" {
		t.Fatalf("Header() %q, want the host's current map", got)
	}
	w.Header().Set("Content-Type", "text/plain")
	if _, err := w.Write([]byte("one")); err != nil {
		t.Fatal(err)
	}
	w.Header().Set("X-Later", "2")
	if _, err := w.Write([]byte("two")); err != nil {
		t.Fatal(err)
	}
	if len(fake.synced) != 2 {
		t.Fatalf("%d header syncs, want one per write", len(fake.synced))
	}
	if fake.synced[0].Get("Content-Type") != "text/plain" || fake.synced[0].Get("X-Later") != "" {
		t.Errorf("first sync %v, want the map as it was at the first write", fake.synced[0])
	}
	if fake.synced[1].Get("X-Later") != "2" {
		t.Errorf("second sync %v lacks the header set in between", fake.synced[1])
	}
	if len(fake.writes) != 2 || string(fake.writes[0]) != "one" || string(fake.writes[1]) != "two" {
		t.Errorf("writes %q", fake.writes)
	}
}

// One call per write, whatever the size: the writer neither splits nor
// gathers writes (its per-write cost is what is measured).
func TestWriterOneWriteCallPerWrite(t *testing.T) {
	fake := &fakeWriterServer{header: http.Header{}}
	w := connectFake(t, fake)
	sizes := []int{1, 1000, 64 << 10, 1 << 20}
	for _, n := range sizes {
		if _, err := w.Write(make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}
	if len(fake.writes) != len(sizes) || len(fake.calls) != 2*len(sizes) {
		t.Fatalf("%d writes and %d calls for %d Write calls", len(fake.writes), len(fake.calls), len(sizes))
	}
	for i, n := range sizes {
		if len(fake.writes[i]) != n {
			t.Errorf("write %d carried %d bytes, want %d", i, len(fake.writes[i]), n)
		}
	}
}
