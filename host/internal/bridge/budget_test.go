package bridge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

// patternBody is n bytes of i%251, different per request so mix-ups show.
func patternBody(n, seed int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = byte((i + seed) % 251)
	}
	return out
}

func TestStreamReserveBytes(t *testing.T) {
	b := &Bridge{WindowBytes: 2 << 20}
	cases := []struct {
		name string
		req  *http.Request
		want int64
	}{
		{"no body: window + one response message", &http.Request{Body: http.NoBody}, 3 << 20},
		{"body of unknown length: + two pump buffers and one encoded message", &http.Request{Body: io.NopCloser(bytes.NewReader(nil)), ContentLength: -1}, 6 << 20},
		{"small body: + three times its length", &http.Request{Body: io.NopCloser(bytes.NewReader(nil)), ContentLength: 100}, 3<<20 + 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := b.streamReserveBytes(tc.req); got != tc.want {
				t.Fatalf("streamReserveBytes = %d, want %d", got, tc.want)
			}
		})
	}
	if got := (&Bridge{WindowBytes: 64 << 10, MaxMessageBytes: 64 << 10}).PerStreamBytes(); got != 128<<10 {
		t.Fatalf("PerStreamBytes with 64 KiB window and messages = %d, want %d", got, 128<<10)
	}
}

// Many more streams than the budget holds: at most budget/share streams are
// open at the plugin at once, every one completes byte-exact, and the budget
// is whole again afterwards.
func TestBudgetBoundsOpenStreamsAndAllComplete(t *testing.T) {
	const (
		streams   = 24
		bodyBytes = 300 << 10
		admitted  = 3
	)
	var open, peak atomic.Int64
	b, _ := newBridge(t, func(s pb.PluginHooks_ServeHTTPServer) error {
		now := open.Add(1)
		defer open.Add(-1)
		for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
		}
		first, err := s.Recv()
		if err != nil {
			return err
		}
		var seed int
		_, _ = fmt.Sscanf(first.GetInit().GetUrl(), "/download?seed=%d", &seed)
		body := patternBody(bodyBytes, seed)
		if err := s.Send(&pb.ServeHTTPResponse{Init: &pb.ServeHTTPResponseInit{StatusCode: 200}}); err != nil {
			return err
		}
		for off := 0; off < len(body); off += 32 << 10 {
			if err := s.Send(&pb.ServeHTTPResponse{BodyChunk: body[off:min(off+32<<10, len(body))]}); err != nil {
				return err
			}
		}
		return s.Send(&pb.ServeHTTPResponse{BodyComplete: true})
	})
	b.WindowBytes, b.MaxMessageBytes = 64<<10, 64<<10
	b.Budget = NewBudget(admitted * b.PerStreamBytes())
	srv := httptest.NewServer(b)
	defer srv.Close()

	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(fmt.Sprintf("%s/download?seed=%d", srv.URL, i))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, patternBody(bodyBytes, i)) {
				errs <- fmt.Errorf("stream %d: status %d, %d bytes, err %v (want %d exact bytes)", i, resp.StatusCode, len(got), err, bodyBytes)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p := peak.Load(); p > admitted || p < 1 {
		t.Errorf("peak open plugin streams %d, want 1..%d (the budget's share)", p, admitted)
	}
	if used := b.Budget.InUse(); used != 0 {
		t.Errorf("budget in use after every stream ended: %d, want 0", used)
	}
}

// A client that leaves while its stream waits for the budget never reaches
// the plugin and leaves no goroutine behind (goleak in TestMain).
func TestClientGoneWhileWaitingForBudget(t *testing.T) {
	var opened atomic.Int64
	b, _ := newBridge(t, func(s pb.PluginHooks_ServeHTTPServer) error {
		opened.Add(1)
		<-s.Context().Done()
		return s.Context().Err()
	})
	b.Budget = NewBudget(1) // every stream needs all of it
	holding := newRecorder()
	holdCtx, stopHolding := context.WithCancel(context.Background())
	held := make(chan struct{})
	go func() {
		defer close(held)
		serve(t, b, holding, httptest.NewRequest(http.MethodGet, "/hang", nil).WithContext(holdCtx))
	}()
	waitUntil(t, "the first stream to open", func() bool { return opened.Load() == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	waiting := make(chan struct{})
	go func() {
		defer close(waiting)
		serve(t, b, newRecorder(), httptest.NewRequest(http.MethodGet, "/hang", nil).WithContext(ctx))
	}()
	waitUntil(t, "the second request to wait for the budget", func() bool { return b.Streams.Active() == 2 })
	cancel()
	<-waiting
	if n := opened.Load(); n != 1 {
		t.Fatalf("plugin streams opened: %d, want 1 (the waiting client left first)", n)
	}
	stopHolding()
	<-held
	if used := b.Budget.InUse(); used != 0 {
		t.Fatalf("budget in use after both ended: %d", used)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
