// Command hoststub stands in for the Mattermost server: it serves HTTP and
// forwards /plugins/{id}/... to a plugin over one ServeHTTP gRPC stream per
// request.
//
//	hoststub --listen 127.0.0.1:8065 --plugin-addr unix:/tmp/plugin.sock --plugin-id bench
//	hoststub health [--url http://127.0.0.1:8065/healthz]
//
// Every flag can also come from the environment as HOSTSTUB_<FLAG_NAME>
// (upper case, '-' -> '_'), e.g. HOSTSTUB_PLUGIN_ADDR; a flag on the command
// line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/streambench/host/internal/bridge"
	"github.com/streambench/host/internal/envflag"
	"github.com/streambench/host/internal/files"
	"github.com/streambench/host/internal/gen/benchstatsv1"
	"github.com/streambench/host/internal/gen/pluginapiv1"
	"github.com/streambench/host/internal/healthprobe"
	"github.com/streambench/host/internal/maxprocs"
	"github.com/streambench/host/internal/metrics"
	"github.com/streambench/host/internal/pluginconn"
	"github.com/streambench/host/internal/router"
	"github.com/streambench/host/internal/serve"
	"github.com/streambench/host/internal/stats"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil))
}

// config is every knob of the host, filled from flags and HOSTSTUB_* env.
type config struct {
	listen            string
	pluginAddr        string
	pluginID          string
	requestChunkBytes int
	maxBodyBytes      int64
	maxMessageBytes   int
	maxHeaderBytes    int
	pluginTimeout     time.Duration
	readHeaderTimeout time.Duration
	readProgress      time.Duration
	writeProgress     time.Duration
	writePieceBytes   int
	idleTimeout       time.Duration
	shutdownGrace     time.Duration
	buffered          bool
	flushEveryChunk   bool
	windowBytes       int
	readBufferBytes   int
	logLevel          string
	maxProcs          int
	filesRoot         string
	limits            limits
}

const envPrefix = "HOSTSTUB_"

// minMaxMessageBytes is the smallest --max-message-bytes: upstream plugins
// send 64 KiB chunks, which must always fit.
const minMaxMessageBytes = 64 << 10

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("hoststub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8065", "HTTP listen address")
	fs.StringVar(&c.pluginAddr, "plugin-addr", "", "plugin gRPC address: unix:/path.sock or host:port (required)")
	fs.StringVar(&c.pluginID, "plugin-id", "bench", "plugin id served under /plugins/{id}/")
	fs.IntVar(&c.requestChunkBytes, "request-chunk-bytes", bridge.DefaultRequestChunkBytes, "largest request body_chunk sent to the plugin")
	fs.Int64Var(&c.maxBodyBytes, "max-body-bytes", 0, "request body limit, 0 = unlimited (over it: 413)")
	fs.IntVar(&c.maxMessageBytes, "max-message-bytes", bridge.DefaultMaxMessageBytes, "largest ServeHTTPResponse message accepted from the plugin")
	fs.IntVar(&c.maxHeaderBytes, "max-header-bytes", 1<<20, "largest request header block")
	fs.DurationVar(&c.pluginTimeout, "plugin-timeout", 0, "time allowed until the plugin's response-init, 0 = none (exceeded: 504)")
	fs.DurationVar(&c.readHeaderTimeout, "read-header-timeout", 10*time.Second, "time allowed to read request headers (slow-loris guard)")
	fs.DurationVar(&c.readProgress, "read-progress-timeout", 30*time.Second, "longest wait for the next request body bytes, 0 = none (exceeded: 408, or abort after response-init)")
	fs.DurationVar(&c.writeProgress, "write-progress-timeout", 30*time.Second, "longest wait for the client to take response bytes, 0 = none (exceeded: abort)")
	fs.IntVar(&c.writePieceBytes, "write-piece-bytes", bridge.DefaultWritePieceBytes, "most response bytes written under one write-progress deadline: a client must take this much per timeout")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 60*time.Second, "how long a keep-alive connection may wait for its next request, 0 = none")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", 10*time.Second, "on SIGTERM, how long in-flight requests may drain")
	fs.BoolVar(&c.buffered, "buffered", false, "reference mode: buffer the whole plugin response before writing it")
	fs.BoolVar(&c.flushEveryChunk, "flush-every-chunk", false, "flush after every response chunk (text/event-stream always does)")
	fs.IntVar(&c.windowBytes, "window-bytes", pluginconn.DefaultWindowBytes, "HTTP/2 flow-control window to the plugin, -1 = grpc-go dynamic default")
	fs.IntVar(&c.readBufferBytes, "read-buffer-bytes", pluginconn.DefaultReadBufferBytes, "gRPC transport read buffer")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.filesRoot, "files-root", "", "directory a plugin may hand files from (X-Sendfile: the host serves them itself, and /direct/file); empty = offload off")
	fs.IntVar(&c.maxProcs, "max-procs", maxprocs.Default(), maxprocs.Usage)
	c.limits.register(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := envflag.Apply(fs, envPrefix, getenv); err != nil {
		return c, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !given["request-chunk-bytes"] && c.maxMessageBytes >= minMaxMessageBytes {
		// The 1 MiB default follows a smaller message limit instead of failing.
		c.requestChunkBytes = min(c.requestChunkBytes, c.maxMessageBytes)
	}
	switch {
	case c.pluginAddr == "":
		return c, errors.New("--plugin-addr (or HOSTSTUB_PLUGIN_ADDR) is required")
	case c.requestChunkBytes <= 0:
		return c, fmt.Errorf("--request-chunk-bytes must be > 0 (got %d)", c.requestChunkBytes)
	case c.maxBodyBytes < 0:
		return c, fmt.Errorf("--max-body-bytes must be >= 0 (got %d)", c.maxBodyBytes)
	case c.maxMessageBytes < minMaxMessageBytes:
		return c, fmt.Errorf("--max-message-bytes must be >= %d, upstream's chunk size (got %d)", minMaxMessageBytes, c.maxMessageBytes)
	case c.maxMessageBytes < c.requestChunkBytes:
		return c, fmt.Errorf("--max-message-bytes (%d) must be >= --request-chunk-bytes (%d)", c.maxMessageBytes, c.requestChunkBytes)
	case c.writePieceBytes <= 0:
		return c, fmt.Errorf("--write-piece-bytes must be > 0 (got %d)", c.writePieceBytes)
	case c.readProgress < 0 || c.writeProgress < 0 || c.idleTimeout < 0:
		return c, errors.New("--read-progress-timeout, --write-progress-timeout and --idle-timeout must be >= 0 (0 = none)")
	case c.windowBytes > 1<<30:
		return c, fmt.Errorf("--window-bytes must be <= 1 GiB (got %d)", c.windowBytes)
	case c.maxProcs < 1:
		return c, fmt.Errorf("--max-procs must be >= 1 (got %d)", c.maxProcs)
	}
	return c, c.limits.validate()
}

// run is main without the process globals; ready, if non-nil, receives the
// bound address once the server listens (tests use it).
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready chan<- string) int {
	if len(args) > 0 && args[0] == "health" {
		return healthprobe.Run(ctx, "hoststub", "http://127.0.0.1:8065/healthz", args[1:], stderr)
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "hoststub:", err)
		return 2
	}
	log, err := serve.NewLogger(cfg.logLevel, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "hoststub:", err)
		return 2
	}
	var fileRoot *files.Root // nil: offload off
	if cfg.filesRoot != "" {
		if fileRoot, err = files.OpenRoot(cfg.filesRoot); err != nil {
			fmt.Fprintln(stderr, "hoststub: --files-root must be an existing directory:", err)
			return 2
		}
		defer fileRoot.Close()
	}
	procs := maxprocs.Apply(cfg.maxProcs, getenv)

	conn, err := pluginconn.Dial(cfg.pluginAddr, pluginconn.Options{
		WindowBytes:     int32(cfg.windowBytes),
		ReadBufferBytes: cfg.readBufferBytes,
		Log:             log,
	})
	if err != nil {
		log.Error("cannot set up plugin connection", "err", err)
		return 2
	}
	defer conn.Close()

	streams := &stats.Streams{}
	statsClient := benchstatsv1.NewPluginStatsServiceClient(conn.ClientConn())
	hostMetrics := metrics.New(metrics.Options{Plugin: statsClient, Log: log})
	plugin := &bridge.Bridge{
		PluginID:             cfg.pluginID,
		Plugin:               pluginapiv1.NewPluginHooksClient(conn.ClientConn()),
		Ready:                conn.Ready,
		RequestChunkBytes:    cfg.requestChunkBytes,
		MaxMessageBytes:      cfg.maxMessageBytes,
		MaxBodyBytes:         cfg.maxBodyBytes,
		InitTimeout:          cfg.pluginTimeout,
		ReadProgressTimeout:  cfg.readProgress,
		WriteProgressTimeout: cfg.writeProgress,
		WritePieceBytes:      cfg.writePieceBytes,
		Buffered:             cfg.buffered,
		FlushEveryChunk:      cfg.flushEveryChunk,
		Log:                  log,
		Streams:              streams,
		Observer:             hostMetrics,
		Budget:               cfg.limits.newBudget(),
		WindowBytes:          reservedWindowBytes(cfg.windowBytes),
		Files:                fileRoot,
	}
	gate := cfg.limits.newGate(plugin, log)
	handler := router.New(router.Routes{
		PluginID:     cfg.pluginID,
		Plugin:       gate.admit(plantLeaks(plugin, stderr)),
		Healthy:      conn.Ready,
		HealthDetail: conn.Status,
		Stats: &stats.Handler{
			Streams: streams,
			Plugin:  stats.GRPCPlugin{Client: statsClient},
			Log:     log,
			Limits:  gate,
		},
		Metrics: hostMetrics.Handler(),
		Files:   fileRoot,
		Floor:   plugin.Floor(),
	})
	if err := gate.registerMetrics(hostMetrics); err != nil {
		log.Error("cannot register budget metrics", "err", err)
		return 1
	}

	srv := serve.NewServer(handler, log) // the bridge bounds progress, not whole requests
	srv.ReadHeaderTimeout = cfg.readHeaderTimeout
	srv.IdleTimeout = cfg.idleTimeout
	srv.MaxHeaderBytes = cfg.maxHeaderBytes
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		log.Error("cannot listen", "listen", cfg.listen, "err", err)
		return 1
	}
	log.Info("hoststub listening", "listen", ln.Addr().String(), "plugin_addr", cfg.pluginAddr,
		"plugin_id", cfg.pluginID, "buffered", cfg.buffered, "window_bytes", cfg.windowBytes,
		"read_progress_timeout", cfg.readProgress, "write_progress_timeout", cfg.writeProgress, "idle_timeout", cfg.idleTimeout,
		"gomaxprocs", procs, "files_root", cfg.filesRoot)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	return serve.UntilDone(ctx, srv, ln, cfg.shutdownGrace, streams.Active, log)
}
