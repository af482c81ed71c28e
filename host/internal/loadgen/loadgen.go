// Package loadgen is a closed-loop HTTP/1.1 load generator for small requests:
// N workers, each on its own keep-alive connection, send GETs back to back for
// a set time (or a set number of requests) and record each request's latency.
//
// It exists because a Python client on a 2-core machine spends more CPU per
// request than the servers it measures; a Go client on keep-alive connections
// costs a few microseconds of CPU per request, so the server is what gets
// measured. It reports its own CPU time so a run can show that it was ahead.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// Config is one load run.
type Config struct {
	URL         string        // GET target, e.g. http://127.0.0.1:8065/plugins/bench/download?size=1024
	Connections int           // workers, one keep-alive connection each
	Duration    time.Duration // measured time; 0 = until Requests are done
	Requests    int           // stop after this many measured requests; 0 = until Duration ends
	Warmup      time.Duration // unmeasured load before the measurement (opens the connections)
	ExpectBytes int64         // body length every response must have; 0 = any
	Timeout     time.Duration // per request
}

// Result is what a run measured. Latencies are in microseconds, one per
// completed request, in no particular order.
type Result struct {
	Connections    int     `json:"connections"`
	WarmupRequests int     `json:"warmup_requests"` // completed while warming up, not measured
	Requests       int     `json:"requests"`
	Errors         int     `json:"errors"`
	FirstError     string  `json:"first_error,omitempty"`
	Seconds        float64 `json:"seconds"`
	ClientCPUSecs  float64 `json:"client_cpu_seconds"`
	LatenciesUS    []int64 `json:"latencies_us"`
}

func (c Config) validate() error {
	switch {
	case c.URL == "":
		return errors.New("loadgen: a URL is required")
	case c.Connections < 1:
		return fmt.Errorf("loadgen: connections must be >= 1, got %d", c.Connections)
	case c.Duration <= 0 && c.Requests <= 0:
		return errors.New("loadgen: set a duration or a request count")
	case c.Duration < 0 || c.Requests < 0 || c.Warmup < 0:
		return errors.New("loadgen: duration, requests and warmup must not be negative")
	}
	return nil
}

// newClient keeps exactly one connection per worker alive for the whole run.
func newClient(c Config) (*http.Client, *http.Transport) {
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        c.Connections,
		MaxIdleConnsPerHost: c.Connections,
		MaxConnsPerHost:     c.Connections,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &http.Client{Transport: transport, Timeout: timeout}, transport
}

// one sends a request and reads the whole body; the error says what was wrong.
func one(ctx context.Context, client *http.Client, url string, expect int64, buf []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var n int64
	for {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("body after %d bytes: %w", n, err)
		}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if expect > 0 && n != expect {
		return fmt.Errorf("body of %d bytes, expected %d", n, expect)
	}
	return nil
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// Run drives the load and returns when the measurement is over, ctx is done,
// or every worker stopped. Requests that fail are counted, not retried.
func Run(ctx context.Context, c Config) (Result, error) {
	if err := c.validate(); err != nil {
		return Result{}, err
	}
	client, transport := newClient(c)
	defer transport.CloseIdleConnections()

	var warm Result
	if c.Warmup > 0 {
		drive(ctx, client, c, time.Now().Add(c.Warmup), 0, &warm)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}

	res := Result{Connections: c.Connections, WarmupRequests: warm.Requests}
	cpuBefore := cpuSeconds()
	started := time.Now()
	var deadline time.Time // zero: no time limit
	if c.Duration > 0 {
		// From the same instant as Seconds, so a timed run never reports less than Duration.
		deadline = started.Add(c.Duration)
	}
	drive(ctx, client, c, deadline, c.Requests, &res)
	res.Seconds = time.Since(started).Seconds()
	res.ClientCPUSecs = cpuSeconds() - cpuBefore
	return res, ctx.Err()
}

// drive runs the workers until ctx is done, the deadline (zero: none) passed or
// `limit` requests (0 = no limit) were started; into res it records latencies
// and errors. A request in flight at the deadline is let
// finish, so its connection stays open for the next phase.
func drive(ctx context.Context, client *http.Client, c Config, deadline time.Time, limit int, res *Result) {
	var (
		mu      sync.Mutex
		started int
		wg      sync.WaitGroup
	)
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if (limit > 0 && started >= limit) || (!deadline.IsZero() && !time.Now().Before(deadline)) {
			return false
		}
		started++
		return true
	}
	for range c.Connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			latencies := make([]int64, 0, 4096)
			var errs int
			var firstErr string
			for ctx.Err() == nil && take() {
				t0 := time.Now()
				err := one(ctx, client, c.URL, c.ExpectBytes, buf)
				elapsed := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						break // cancelled: neither a result nor an error
					}
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
					continue
				}
				latencies = append(latencies, elapsed.Microseconds())
			}
			mu.Lock()
			defer mu.Unlock()
			res.LatenciesUS = append(res.LatenciesUS, latencies...)
			res.Requests += len(latencies)
			res.Errors += errs
			if res.FirstError == "" {
				res.FirstError = firstErr
			}
		}()
	}
	wg.Wait()
}
