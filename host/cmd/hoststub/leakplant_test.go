//go:build leakplant

package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/streambench/host/internal/stats"
)

// The leakplant build keeps leakPlantBytesPerRequest for every request the
// plugin handler serves, and says so on stderr.
func TestLeakPlantKeepsBytesPerRequest(t *testing.T) {
	const requests = 10_000
	var stderr strings.Builder
	h := plantLeaks(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), &stderr)
	if !strings.Contains(stderr.String(), "keeps 256 bytes per bridged request") {
		t.Fatalf("stderr %q does not say what this build keeps", stderr.String())
	}
	read := func() stats.Host {
		stats.CollectGarbage()
		return stats.ReadHost(&stats.Streams{})
	}
	base := read()
	req := httptest.NewRequest(http.MethodGet, "/plugins/bench/x", nil)
	for range requests {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	after := read()
	grew := int64(after.HeapLiveBytes) - int64(base.HeapLiveBytes)
	if grew < requests*leakPlantBytesPerRequest {
		t.Fatalf("live heap grew %d bytes over %d requests, want >= %d",
			grew, requests, requests*leakPlantBytesPerRequest)
	}
}
