package stats

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"google.golang.org/grpc"

	"github.com/streambench/host/internal/gen/benchstatsv1"
)

// fakePlugin records what the handler asked for and answers like the runtime.
type fakePlugin struct {
	asked []*benchstatsv1.PluginStatsRequest
}

func (f *fakePlugin) GetStats(
	_ context.Context, in *benchstatsv1.PluginStatsRequest, _ ...grpc.CallOption,
) (*benchstatsv1.PluginStats, error) {
	f.asked = append(f.asked, in)
	st := &benchstatsv1.PluginStats{RssBytes: 1 << 20, AllocatedBlocks: 1234, CpuSeconds: 2.5}
	if in.GetCollectGarbage() {
		objects := int64(99)
		st.GcObjects = &objects
	}
	return st, nil
}

func get(t *testing.T, h http.Handler, target string) (int, map[string]map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code != http.StatusOK {
		return rec.Code, nil
	}
	var body map[string]map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: body %q: %v", target, rec.Body.String(), err)
	}
	return rec.Code, body
}

func TestStatsGCQuery(t *testing.T) {
	for _, tc := range []struct {
		target    string
		status    int
		collected bool
	}{
		{"/debug/stats", http.StatusOK, false},
		{"/debug/stats?gc=0", http.StatusOK, false},
		{"/debug/stats?gc=1", http.StatusOK, true},
		{"/debug/stats?gc=true", http.StatusOK, true},
		{"/debug/stats?gc=yes", http.StatusBadRequest, false},
	} {
		t.Run(tc.target, func(t *testing.T) {
			plugin := &fakePlugin{}
			status, body := get(t, &Handler{Plugin: GRPCPlugin{plugin}}, tc.target)
			if status != tc.status {
				t.Fatalf("status %d, want %d", status, tc.status)
			}
			if status != http.StatusOK {
				if len(plugin.asked) != 0 {
					t.Fatal("a bad query still asked the plugin")
				}
				return
			}
			if len(plugin.asked) != 1 || plugin.asked[0].GetCollectGarbage() != tc.collected {
				t.Fatalf("plugin asked %v, want one request with collect_garbage=%v", plugin.asked, tc.collected)
			}
			if got := body["host"]["gc_forced"]; got != tc.collected {
				t.Errorf("host.gc_forced = %v, want %v", got, tc.collected)
			}
			_, hasObjects := body["plugin"]["gc_objects"]
			if hasObjects != tc.collected {
				t.Errorf("plugin.gc_objects present = %v, want %v", hasObjects, tc.collected)
			}
			if body["plugin"]["allocated_blocks"] != float64(1234) {
				t.Errorf("plugin.allocated_blocks = %v", body["plugin"]["allocated_blocks"])
			}
			if body["plugin"]["cpu_seconds"] != 2.5 {
				t.Errorf("plugin.cpu_seconds = %v, want 2.5", body["plugin"]["cpu_seconds"])
			}
			for _, key := range []string{
				"rss_bytes", "goroutines", "heap_inuse_bytes", "active_streams", "streams_total",
				"heap_live_bytes", "heap_objects", "open_fds", "cpu_seconds",
			} {
				if _, ok := body["host"][key]; !ok {
					t.Errorf("host.%s missing", key)
				}
			}
		})
	}
}

var retained [][]byte

// After a forced collection the live heap is what the program still holds:
// it rises by what is kept and falls back when that is let go.
func TestHeapLiveAfterCollectionCountsWhatIsHeld(t *testing.T) {
	const keep = 16 << 20
	read := func() Host {
		CollectGarbage()
		return ReadHost(&Streams{})
	}
	base := read()
	for range keep / 4096 {
		retained = append(retained, make([]byte, 4096))
	}
	held := read()
	retained = nil
	released := read()
	if grew := int64(held.HeapLiveBytes) - int64(base.HeapLiveBytes); grew < keep {
		t.Errorf("live heap grew %d bytes holding %d", grew, keep)
	}
	if fell := int64(held.HeapLiveBytes) - int64(released.HeapLiveBytes); fell < keep {
		t.Errorf("live heap fell %d bytes after releasing %d", fell, keep)
	}
	if held.HeapObjects-base.HeapObjects < keep/4096 {
		t.Errorf("heap objects grew %d holding %d", held.HeapObjects-base.HeapObjects, keep/4096)
	}
	if runtime.GOOS == "linux" && base.OpenFDs <= 0 {
		t.Errorf("open fds %d on linux", base.OpenFDs)
	}
}

var spin uint64

// The process's CPU time rises with the work it does, so the bench can divide
// it by the bytes a transfer moved.
func TestCPUSecondsGrowWithWork(t *testing.T) {
	before := ReadHost(&Streams{}).CPUSeconds
	if before <= 0 {
		t.Fatalf("cpu_seconds %v at start, want > 0", before)
	}
	for ReadHost(&Streams{}).CPUSeconds < before+0.05 {
		for i := range 1 << 20 {
			spin += uint64(i) * spin
		}
	}
}

func TestStreamsCount(t *testing.T) {
	var s Streams
	s.Start()
	s.Start()
	s.End()
	if s.Active() != 1 || s.Total() != 2 {
		t.Fatalf("active %d total %d, want 1 and 2", s.Active(), s.Total())
	}
}
