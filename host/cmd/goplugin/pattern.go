package main

import "sync"

// period is the body pattern's: byte i is i % 256.
const period = 256

// pattern hands out the body pattern from one shared read-only buffer,
// grown to the largest chunk asked for, so a download allocates nothing per
// Write and concurrent downloads share it.
type pattern struct {
	mu  sync.Mutex
	buf []byte // at least the largest chunk + one period; never written once handed out
}

// at is n pattern bytes starting at body offset offset.
func (p *pattern) at(offset int64, n int) []byte {
	p.mu.Lock()
	if len(p.buf) < n+period {
		// A new buffer, not an append: slices handed out stay valid.
		buf := make([]byte, n+period)
		for i := range buf {
			buf[i] = byte(i)
		}
		p.buf = buf
	}
	buf := p.buf
	p.mu.Unlock()
	phase := int(offset % period)
	return buf[phase : phase+n]
}
