package process

import (
	"os"
	"runtime"
	"testing"
)

func TestFiguresOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	// Hold a page-sized slice resident so RSS cannot be zero, and spin a little
	// so CPU time has moved.
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	if rss := ResidentBytes(); rss < int64(len(buf)) {
		t.Errorf("ResidentBytes %d, want at least the %d bytes just touched", rss, len(buf))
	}
	if cpu := CPUSeconds(); cpu <= 0 {
		t.Errorf("CPUSeconds %v, want > 0 for a running test", cpu)
	}
	before := OpenFDs()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	if after := OpenFDs(); after != before+1 {
		t.Errorf("OpenFDs %d after opening one file, want %d", after, before+1)
	}
	_ = f.Close()
	runtime.KeepAlive(buf)
}
