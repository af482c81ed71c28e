// Package healthprobe is the `health` subcommand of the suite's Go hosts,
// for container healthchecks where no curl is installed: exit 0 iff the URL
// answers 200.
package healthprobe

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Run parses `[--url URL] [--timeout D]` (name is the command for usage
// text) and probes the URL once. Exit codes: 0 healthy (or --help), 1 not
// healthy, 2 bad usage.
func Run(ctx context.Context, name, defaultURL string, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(name+" health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", defaultURL, "health URL to probe")
	timeout := fs.Duration("timeout", 3*time.Second, "probe timeout")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		fmt.Fprintln(stderr, "health:", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "health:", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "health: %s answered %d\n", *url, resp.StatusCode)
		return 1
	}
	return 0
}
