package main

import (
	"github.com/streambench/host/internal/legacyrpc"
	"github.com/streambench/host/internal/stats"
)

// Stats reads the plugin's own process figures (the host's /debug/stats
// asks for them over Plugin.Stats); collectGarbage collects first.
func (d *demo) Stats(collectGarbage bool) legacyrpc.Stats {
	if collectGarbage {
		stats.CollectGarbage()
	}
	p := stats.ReadHost(&d.handlers)
	return legacyrpc.Stats{
		PID:            p.PID,
		RSSBytes:       p.RSSBytes,
		CPUSeconds:     p.CPUSeconds,
		Goroutines:     p.Goroutines,
		HeapInuseBytes: p.HeapInuseBytes,
		HeapLiveBytes:  p.HeapLiveBytes,
		HeapObjects:    p.HeapObjects,
		OpenFDs:        p.OpenFDs,
		ActiveHandlers: p.ActiveStreams,
		HandlersTotal:  p.StreamsTotal,
		GCForced:       collectGarbage,
		GoVersion:      p.GoVersion,
	}
}
