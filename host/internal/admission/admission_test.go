package admission

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor polls cond until it holds (condition wait, never a fixed sleep).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAcquire(t *testing.T) {
	cases := []struct {
		name      string
		maxActive int
		maxQueue  int
		timeout   time.Duration
		held      int // slots taken before the request under test
		cancel    bool
		wantErr   error
		rejected  int64
	}{
		{name: "free slot", maxActive: 2, maxQueue: 0, held: 1},
		{name: "queue of zero rejects at once", maxActive: 1, maxQueue: 0, held: 1, wantErr: ErrQueueFull, rejected: 1},
		{name: "queued until timeout", maxActive: 1, maxQueue: 1, timeout: 20 * time.Millisecond, held: 1, wantErr: ErrQueueTimeout, rejected: 1},
		{name: "client gone while queued", maxActive: 1, maxQueue: 1, held: 1, cancel: true, wantErr: context.Canceled},
		{name: "zero limits mean one slot", maxActive: 0, maxQueue: -1, held: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := New(tc.maxActive, tc.maxQueue, tc.timeout)
			var releases []func()
			for range tc.held {
				release, err := l.Acquire(context.Background())
				if err != nil {
					t.Fatalf("holding a slot: %v", err)
				}
				releases = append(releases, release)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				go func() { // cancels once the request below is queued
					for l.Queued() != 1 {
						time.Sleep(time.Millisecond)
					}
					cancel()
				}()
			}
			release, err := l.Acquire(ctx)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Acquire: err = %v, want %v", err, tc.wantErr)
			}
			if err == nil {
				release()
				release() // a second call is a no-op, not a double release
			}
			if got := l.RejectedTotal(); got != tc.rejected {
				t.Errorf("RejectedTotal = %d, want %d", got, tc.rejected)
			}
			if got := l.Queued(); got != 0 {
				t.Errorf("Queued = %d after the request ended, want 0", got)
			}
			for _, r := range releases {
				r()
			}
			if got := l.Active(); got != 0 {
				t.Errorf("Active = %d after every release, want 0", got)
			}
		})
	}
}

// Waiters are served in arrival order, and a released slot goes to the queue.
func TestQueuedRequestsAreServedInOrder(t *testing.T) {
	l := New(1, 8, time.Minute)
	release, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 4 {
		waitFor(t, "earlier waiters to queue", func() bool { return l.Queued() == int64(i) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := l.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			r()
		}()
	}
	waitFor(t, "four waiters", func() bool { return l.Queued() == 4 })
	release()
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("served in order %v, want 0,1,2,3", order)
		}
	}
}

func TestMiddleware(t *testing.T) {
	l := New(1, 1, 50*time.Millisecond)
	entered := make(chan struct{})
	unblock := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			close(entered)
			<-unblock
		}
		w.WriteHeader(http.StatusNoContent)
	})
	var logs bytes.Buffer
	h := l.Middleware(slow, slog.New(slog.NewTextHandler(&logs, nil)), 3*time.Second)

	holder := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/hold", nil))
		holder <- rec.Code
	}()
	<-entered

	// The slot is taken: the next request queues, times out, gets 503.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/queued", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "3" {
		t.Fatalf("queued past the timeout: %d Retry-After %q, want 503 Retry-After 3", rec.Code, rec.Header().Get("Retry-After"))
	}
	if n := strings.Count(logs.String(), "rejected by admission control"); n != 1 {
		t.Fatalf("want one log line for the 503, got %d:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "path=/queued") {
		t.Errorf("log line does not name the path:\n%s", logs.String())
	}

	// A client that goes away while queued: no response written, no log at info.
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan *httptest.ResponseRecorder)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/gone", nil).WithContext(ctx))
		gone <- rec
	}()
	waitFor(t, "the request to queue", func() bool { return l.Queued() == 1 })
	cancel()
	if rec := <-gone; rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("disconnected client got %d %q, want nothing written", rec.Code, rec.Body.String())
	}
	if l.Queued() != 0 || l.RejectedTotal() != 1 {
		t.Errorf("after the disconnect: queued %d rejected %d, want 0 and 1", l.Queued(), l.RejectedTotal())
	}

	close(unblock)
	if code := <-holder; code != http.StatusNoContent {
		t.Errorf("admitted request got %d, want 204", code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/after", nil))
	if rec.Code != http.StatusNoContent || l.Active() != 0 {
		t.Errorf("after the slot freed: %d active %d, want 204 and 0", rec.Code, l.Active())
	}
}

// TestReleaseGivesTheSlotBackEarly: a handler that calls Release frees its
// slot for the next request while it still runs; the middleware's release
// after it does not free a second one.
func TestReleaseGivesTheSlotBackEarly(t *testing.T) {
	l := New(1, 1, time.Minute)
	released, finish := make(chan struct{}), make(chan struct{})
	h := l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/early" {
			Release(r.Context())
			Release(r.Context()) // twice is once
			close(released)
			<-finish
		}
	}), nil, 0)
	first := make(chan struct{})
	go func() {
		defer close(first)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/early", nil))
	}()
	<-released
	if l.Active() != 0 {
		t.Fatalf("active %d after Release, want 0", l.Active())
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/next", nil)) // gets the freed slot at once
	if rec.Code != http.StatusOK {
		t.Fatalf("next request: %d", rec.Code)
	}
	close(finish)
	<-first
	if l.Active() != 0 || !l.slots.TryAcquire(1) || l.slots.TryAcquire(1) {
		t.Fatalf("after both returned: active %d, want 0 and exactly one free slot", l.Active())
	}
	Release(context.Background()) // a request without a slot: nothing happens
}
