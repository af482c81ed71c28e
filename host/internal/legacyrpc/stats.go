package legacyrpc

// StatsArgs is the argument of Plugin.Stats.
type StatsArgs struct {
	// CollectGarbage asks the plugin to collect first, so the heap figures
	// count only what it still holds (GET /debug/stats?gc=1).
	CollectGarbage bool
}

// Stats is the plugin process's own report, the `plugin` object of the Go
// plugin host's /debug/stats (the Python plugin reports over gRPC instead).
type Stats struct {
	PID            int     `json:"pid"`
	RSSBytes       int64   `json:"rss_bytes"`
	CPUSeconds     float64 `json:"cpu_seconds"`
	Goroutines     int     `json:"goroutines"`
	HeapInuseBytes uint64  `json:"heap_inuse_bytes"`
	HeapLiveBytes  uint64  `json:"heap_live_bytes"`
	HeapObjects    uint64  `json:"heap_objects"`
	OpenFDs        int     `json:"open_fds"`
	ActiveHandlers int64   `json:"active_handlers"`
	HandlersTotal  int64   `json:"handlers_total"`
	GCForced       bool    `json:"gc_forced"`
	GoVersion      string  `json:"go_version"`
}
