//go:build leakplant

package stats

import "testing"

// The leakplant build keeps LeakPlantBytesPerRequest for every stream started.
func TestLeakPlantKeepsBytesPerStream(t *testing.T) {
	const streams = 10_000
	read := func() Host {
		CollectGarbage()
		return ReadHost(&Streams{})
	}
	base := read()
	var s Streams
	for range streams {
		s.Start()
		s.End()
	}
	after := read()
	grew := int64(after.HeapLiveBytes) - int64(base.HeapLiveBytes)
	if grew < streams*LeakPlantBytesPerRequest {
		t.Fatalf("live heap grew %d bytes over %d streams, want >= %d",
			grew, streams, streams*LeakPlantBytesPerRequest)
	}
}
