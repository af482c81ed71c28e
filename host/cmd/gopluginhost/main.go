// Command gopluginhost is the host of the Go peer: it starts the goplugin
// binary as its child (hashicorp/go-plugin, net/rpc) and serves HTTP the way
// the Mattermost server serves a Go plugin, over the legacy plugin RPC
// (internal/legacyrpc: two broker streams and one ServeHTTP call per request,
// two round trips per response write).
//
//	gopluginhost --listen 127.0.0.1:8066 [--plugin-bin bin/goplugin]
//	gopluginhost health [--url http://127.0.0.1:8066/healthz]
//
// Routes: /plugins/bench/... (the plugin, prefix stripped), /healthz (200
// while the plugin's RPC client answers a ping, else 503), /debug/stats (the
// host's figures and the plugin's, which it reports over Plugin.Stats).
//
// Every flag can also come from the environment as GOPLUGINHOST_<FLAG_NAME>
// (upper case, '-' -> '_'); a flag on the command line wins.
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
	"path/filepath"
	"syscall"
	"time"

	"github.com/streambench/host/internal/envflag"
	"github.com/streambench/host/internal/healthprobe"
	"github.com/streambench/host/internal/maxprocs"
	"github.com/streambench/host/internal/router"
	"github.com/streambench/host/internal/serve"
	"github.com/streambench/host/internal/stats"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil))
}

const (
	envPrefix = "GOPLUGINHOST_"
	// pluginID is the id the demo plugin is served under, as on the bridge.
	pluginID = "bench"
)

// config is every knob of the host, from flags and GOPLUGINHOST_* env.
type config struct {
	listen        string
	pluginBin     string
	maxProcs      int
	logLevel      string
	shutdownGrace time.Duration
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("gopluginhost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8066", "HTTP listen address")
	fs.StringVar(&c.pluginBin, "plugin-bin", besideExecutable("goplugin"), "the plugin binary, started as a child")
	fs.IntVar(&c.maxProcs, "max-procs", maxprocs.Default(), maxprocs.Usage+" (the plugin gets the same)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", 10*time.Second, "on SIGTERM, how long in-flight requests may drain")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := envflag.Apply(fs, envPrefix, getenv); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	case c.pluginBin == "":
		return c, errors.New("--plugin-bin must name the plugin binary")
	case c.maxProcs < 1:
		return c, fmt.Errorf("--max-procs must be >= 1 (got %d)", c.maxProcs)
	case c.shutdownGrace < 0:
		return c, fmt.Errorf("--shutdown-grace must be >= 0 (got %s)", c.shutdownGrace)
	}
	return c, nil
}

// besideExecutable is name in this executable's folder (bin/goplugin beside
// bin/gopluginhost), or name alone (looked up in PATH) if that is unknown.
func besideExecutable(name string) string {
	self, err := os.Executable()
	if err != nil {
		return name
	}
	return filepath.Join(filepath.Dir(self), name)
}

// run is main without the process globals; ready, if non-nil, receives the
// bound address once the server listens (tests use it).
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready chan<- string) int {
	if len(args) > 0 && args[0] == "health" {
		return healthprobe.Run(ctx, "gopluginhost", "http://127.0.0.1:8066/healthz", args[1:], stderr)
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "gopluginhost:", err)
		return 2
	}
	log, err := serve.NewLogger(cfg.logLevel, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "gopluginhost:", err)
		return 2
	}
	procs := maxprocs.Apply(cfg.maxProcs, getenv)

	plugin, err := startPlugin(cfg.pluginBin, procs, getenv, log, cfg.logLevel, stderr)
	if err != nil {
		log.Error("cannot start the plugin", "err", err)
		return 1
	}
	defer plugin.kill()

	streams := &stats.Streams{}
	handler := router.New(router.Routes{
		PluginID:     pluginID,
		Plugin:       &forwarder{hooks: plugin.hooks, streams: streams, log: log},
		Healthy:      plugin.healthy,
		HealthDetail: plugin.status,
		Stats:        &stats.Handler{Streams: streams, Plugin: pluginStats{plugin.hooks}, Log: log},
	})
	srv := serve.NewServer(handler, log)
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		log.Error("cannot listen", "listen", cfg.listen, "err", err)
		return 1
	}
	log.Info("gopluginhost listening", "listen", ln.Addr().String(), "plugin_bin", cfg.pluginBin,
		"plugin_id", pluginID, "gomaxprocs", procs)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	return serve.UntilDone(ctx, srv, ln, cfg.shutdownGrace, streams.Active, log)
}
