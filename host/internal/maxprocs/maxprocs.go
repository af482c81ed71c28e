// Package maxprocs is the GOMAXPROCS policy of the suite's Go hosts.
//
// A host shares its machine with its plugin process (and, in the bench, with
// the clients). Measured on 2 cores, letting Go run on both made each gRPC
// frame and each request a wake-up across threads: GOMAXPROCS=1 took the host
// from 1.0-1.3 to 0.8-1.0 CPU s/GiB for downloads and from ~305 to ~230 us per
// small request, at equal or higher throughput (docs/decisions.md). So by
// default a host runs Go code on half the CPUs and leaves the rest to the
// plugin.
package maxprocs

import "runtime"

// GoDefault is Go's own GOMAXPROCS choice (the CPUs, or a container's CPU
// limit), read at start before anything changes it.
var GoDefault = runtime.GOMAXPROCS(0)

// Default is half of Go's choice, at least 1.
func Default() int { return max(1, GoDefault/2) }

// Apply sets GOMAXPROCS to n unless the environment sets GOMAXPROCS, which
// wins as it does for any Go program. It returns the value in effect.
func Apply(n int, getenv func(string) string) int {
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(n)
	}
	return runtime.GOMAXPROCS(0)
}

// Usage is the help text of a --max-procs flag.
const Usage = "threads running Go code at once (GOMAXPROCS); default half the CPUs, the other half is the plugin's; GOMAXPROCS in the environment wins"
