// Command loadgen sends small GETs from N keep-alive connections back to back
// and prints one JSON object: requests, errors, seconds, its own CPU seconds
// and every request's latency in microseconds (the bench computes req/s and
// percentiles from them).
//
//	loadgen --url http://127.0.0.1:8065/plugins/bench/download?size=1024 \
//	        --connections 32 --duration 3s --warmup 500ms --expect-bytes 1024
//
// Every flag can also come from the environment as LOADGEN_<FLAG_NAME>
// (upper case, '-' -> '_'); a flag on the command line wins.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/streambench/host/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (loadgen.Config, error) {
	var c loadgen.Config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.URL, "url", "", "URL to GET (required)")
	fs.IntVar(&c.Connections, "connections", 32, "keep-alive connections, one worker each")
	fs.DurationVar(&c.Duration, "duration", 0, "measured time (0 = until --requests are done)")
	fs.IntVar(&c.Requests, "requests", 0, "measured requests (0 = until --duration ends)")
	fs.DurationVar(&c.Warmup, "warmup", 0, "unmeasured load before measuring")
	fs.Int64Var(&c.ExpectBytes, "expect-bytes", 0, "body length each response must have (0 = any)")
	fs.DurationVar(&c.Timeout, "timeout", 0, "per request (0 = 30s)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "LOADGEN_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" && !set[f.Name] && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	return c, envErr
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c, err := parseConfig(args, getenv, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	res, err := loadgen.Run(ctx, c)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		fmt.Fprintf(stderr, "loadgen: writing the result: %v\n", err)
		return 1
	}
	return 0
}
