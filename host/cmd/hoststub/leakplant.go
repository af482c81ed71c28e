//go:build leakplant

// A test build that leaks on purpose, so the bench's leak soak can show it
// catches a small real leak: `go build -tags leakplant ./cmd/hoststub`.
// Never built by scripts/setup.sh, the Dockerfiles or `go test`; the host
// says so on stderr at start.

package main

import (
	"fmt"
	"io"
	"net/http"
	"sync"
)

// leakPlantBytesPerRequest is what this build keeps for every bridged request.
const leakPlantBytesPerRequest = 256

var planted struct {
	sync.Mutex
	kept [][]byte
}

// plantLeaks wraps the plugin handler so that every request it serves keeps
// leakPlantBytesPerRequest for good, and says so on stderr.
func plantLeaks(plugin http.Handler, stderr io.Writer) http.Handler {
	fmt.Fprintf(stderr, "hoststub: built with -tags leakplant: keeps %d bytes per bridged request "+
		"(a test build for the bench's leak soak, never for production)\n", leakPlantBytesPerRequest)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		planted.Lock()
		planted.kept = append(planted.kept, make([]byte, leakPlantBytesPerRequest))
		planted.Unlock()
		plugin.ServeHTTP(w, r)
	})
}
