// Package testlog is a log sink for tests: goroutine-safe, read back as text.
package testlog

import (
	"strings"
	"sync"
)

// Buffer collects log lines written from several goroutines.
type Buffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
