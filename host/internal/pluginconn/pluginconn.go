// Package pluginconn holds the host's one gRPC connection to the plugin: it
// dials `unix:/path.sock` or `host:port`, watches the plugin's grpc.health.v1
// status, and lets grpc-go reconnect by itself when the plugin comes back.
package pluginconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// HealthService is the grpc.health.v1 service name the plugin reports
// (hashicorp/go-plugin's convention; the runtime also serves "").
const HealthService = "plugin"

// Defaults for Options' zero values.
const (
	DefaultWindowBytes     = 2 << 20
	DefaultReadBufferBytes = 256 << 10
	// Reconnect attempts back off from 50 ms to at most this, so a plugin
	// that restarts is picked up within about a second.
	DefaultMaxReconnectDelay = time.Second
)

// Options tune the connection. Zero values mean the documented defaults.
type Options struct {
	// WindowBytes is the HTTP/2 stream and connection flow-control window
	// (static, so BDP estimation is off). Zero: DefaultWindowBytes. Negative:
	// grpc-go's own default (64 KiB growing by BDP estimation).
	WindowBytes int32
	// ReadBufferBytes / WriteBufferBytes size the transport's socket buffers.
	// Zero: DefaultReadBufferBytes / grpc-go's default.
	ReadBufferBytes  int
	WriteBufferBytes int
	// MaxReconnectDelay caps the reconnect backoff. Zero: DefaultMaxReconnectDelay.
	MaxReconnectDelay time.Duration
	// Log receives health transitions; nil means slog.Default().
	Log *slog.Logger
	// ExtraDialOptions are appended last (tests use a bufconn dialer).
	ExtraDialOptions []grpc.DialOption
}

// Conn is the plugin connection plus its last known health.
type Conn struct {
	cc      *grpc.ClientConn
	log     *slog.Logger
	serving atomic.Bool
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	status  string // last health status seen, for logs and /healthz
}

// Target turns the CLI address forms into a grpc-go target: `unix:/p.sock`
// (absolute path) stays as is; `host:port` uses the passthrough resolver so
// no DNS lookup sits in front of a loopback connect.
func Target(addr string) (string, error) {
	switch {
	case addr == "":
		return "", errors.New("plugin address is empty (want unix:/path.sock or host:port)")
	case strings.HasPrefix(addr, "unix:"):
		path := strings.TrimPrefix(strings.TrimPrefix(addr, "unix:"), "//")
		if path == "" {
			return "", fmt.Errorf("plugin address %q: no socket path", addr)
		}
		return "unix:" + path, nil
	case strings.Contains(addr, "://"):
		return "", fmt.Errorf("plugin address %q: want unix:/path.sock or host:port", addr)
	case !strings.Contains(addr, ":"):
		return "", fmt.Errorf("plugin address %q: missing :port", addr)
	default:
		return "passthrough:///" + addr, nil
	}
}

// Dial creates the connection (lazily: nothing blocks on the plugin being up)
// and starts the health watch. Close stops both.
func Dial(addr string, opt Options) (*Conn, error) {
	target, err := Target(addr)
	if err != nil {
		return nil, err
	}
	maxDelay := opt.MaxReconnectDelay
	if maxDelay <= 0 {
		maxDelay = DefaultMaxReconnectDelay
	}
	readBuf := opt.ReadBufferBytes
	if readBuf == 0 {
		readBuf = DefaultReadBufferBytes
	}
	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  50 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   maxDelay,
			},
			MinConnectTimeout: time.Second,
		}),
		// Never go idle: the health watch must keep observing the plugin.
		grpc.WithIdleTimeout(0),
		grpc.WithReadBufferSize(readBuf),
	}
	if opt.WriteBufferBytes > 0 {
		dialOpts = append(dialOpts, grpc.WithWriteBufferSize(opt.WriteBufferBytes))
	}
	window := opt.WindowBytes
	if window == 0 {
		window = DefaultWindowBytes
	}
	if window > 0 {
		dialOpts = append(dialOpts,
			grpc.WithInitialWindowSize(window),
			grpc.WithInitialConnWindowSize(window))
	}
	dialOpts = append(dialOpts, opt.ExtraDialOptions...)
	cc, err := grpc.NewClient(target, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("plugin address %q: %w", addr, err)
	}
	log := opt.Log
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{cc: cc, log: log.With("plugin_addr", addr), cancel: cancel, done: make(chan struct{}), status: "UNKNOWN"}
	cc.Connect()
	go c.watchHealth(ctx)
	return c, nil
}

// ClientConn is the shared channel for generated clients (PluginHooks, stats).
func (c *Conn) ClientConn() *grpc.ClientConn { return c.cc }

// Ready reports whether the plugin's health is SERVING right now. It never
// blocks, so requests to a plugin that is down fail fast (503).
func (c *Conn) Ready() bool { return c.serving.Load() }

// Status is the last health status seen ("SERVING", "NOT_SERVING",
// "UNREACHABLE: ...") and the channel's connectivity state, for /healthz.
func (c *Conn) Status() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status + " (connection " + c.cc.GetState().String() + ")"
}

// Close stops the health watch and closes the channel.
func (c *Conn) Close() error {
	c.cancel()
	<-c.done
	return c.cc.Close()
}

func (c *Conn) setStatus(serving bool, status string) {
	c.mu.Lock()
	changed := c.status != status
	c.status = status
	c.mu.Unlock()
	c.serving.Store(serving)
	if changed {
		c.log.Info("plugin health", "status", status)
	}
}

// watchHealth keeps one Health.Watch stream open. WaitForReady(true) parks
// the call until grpc-go has reconnected, so a restarted plugin is seen as
// soon as its health service says SERVING.
func (c *Conn) watchHealth(ctx context.Context) {
	defer close(c.done)
	client := healthpb.NewHealthClient(c.cc)
	retry := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := c.watchOnce(ctx, client)
		if ctx.Err() != nil {
			return
		}
		c.setStatus(false, "UNREACHABLE: "+status.Convert(err).Message())
		if status.Code(err) == codes.Unimplemented {
			retry = 5 * time.Second // a plugin without health service: ask rarely
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

func (c *Conn) watchOnce(ctx context.Context, client healthpb.HealthClient) error {
	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: HealthService}, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		st := resp.GetStatus()
		c.setStatus(st == healthpb.HealthCheckResponse_SERVING, st.String())
	}
}
