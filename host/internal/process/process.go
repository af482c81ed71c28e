// Package process reads the figures of the running process that /debug/stats
// reports for every Go process of the suite: resident memory, CPU time and
// open file descriptors, from the kernel rather than from the Go runtime.
package process

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// CPUSeconds is the process's user + system CPU time so far (getrusage); -1
// when the call fails.
func CPUSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return -1
	}
	seconds := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return seconds(usage.Utime) + seconds(usage.Stime)
}

// OpenFDs counts the process's open file descriptors (Linux /proc); -1 elsewhere.
func OpenFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries) - 1 // ReadDir's own descriptor on the directory
}

// ResidentBytes reads the resident set size from /proc/self/statm (Linux);
// -1 where that file does not exist.
func ResidentBytes() int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	fields := strings.Fields(string(raw))
	if len(fields) < 2 {
		return -1
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return -1
	}
	return pages * int64(os.Getpagesize())
}
