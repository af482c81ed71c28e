//go:build leakplant

// A test build that leaks on purpose, so the bench's leak soak can show it
// catches a small real leak: `go build -tags leakplant ./cmd/hoststub`.
// Never built by scripts/setup.sh, the Dockerfiles or `go test`; the binary
// says so on stderr at start.

package stats

import (
	"fmt"
	"os"
	"sync"
)

// LeakPlantBytesPerRequest is what this build keeps for every bridged request.
const LeakPlantBytesPerRequest = 256

var planted struct {
	sync.Mutex
	kept [][]byte
}

func init() {
	fmt.Fprintf(os.Stderr, "hoststub: built with -tags leakplant: keeps %d bytes per bridged request "+
		"(a test build for the bench's leak soak, never for production)\n", LeakPlantBytesPerRequest)
}

func plantLeak() {
	planted.Lock()
	planted.kept = append(planted.kept, make([]byte, LeakPlantBytesPerRequest))
	planted.Unlock()
}
