package main

import "runtime"

// The host shares its machine with the plugin process (and, in the bench, with
// the clients). Measured on 2 cores, letting Go run on both made each gRPC
// frame and each request a wake-up across threads: GOMAXPROCS=1 took the host
// from 1.0-1.3 to 0.8-1.0 CPU s/GiB for downloads and from ~305 to ~230 us per
// small request, at equal or higher throughput (docs/performance.md). So by
// default the host runs Go code on half the CPUs and leaves the rest to the
// plugin.

// goDefaultProcs is Go's own GOMAXPROCS choice (the CPUs, or a container's CPU
// limit), read before the host changes it.
var goDefaultProcs = runtime.GOMAXPROCS(0)

// defaultMaxProcs is half of Go's choice, at least 1.
func defaultMaxProcs() int { return max(1, goDefaultProcs/2) }

// applyMaxProcs sets GOMAXPROCS to n unless the environment sets GOMAXPROCS,
// which wins as it does for any Go program. It returns the value in effect.
func applyMaxProcs(n int, getenv func(string) string) int {
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(n)
	}
	return runtime.GOMAXPROCS(0)
}
