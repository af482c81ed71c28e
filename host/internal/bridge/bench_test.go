package bridge

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
	"github.com/streambench/host/internal/pluginconn"
)

// benchBytes is the body size per benchmark op: 256 MiB, or SB_BENCH_BYTES.
func benchBytes(b *testing.B) int64 {
	if v := os.Getenv("SB_BENCH_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatalf("SB_BENCH_BYTES: %v", err)
		}
		return n
	}
	return 256 << 20
}

// downloadPlugin streams size bytes in chunkBytes messages, like the Python
// bench plugin's /download; the size comes from the URL query.
func downloadPlugin(chunkBytes int) pluginFunc {
	payload := make([]byte, chunkBytes)
	for i := range payload {
		payload[i] = byte(i)
	}
	return func(s pb.PluginHooks_ServeHTTPServer) error {
		first, err := s.Recv()
		if err != nil {
			return err
		}
		var size int64
		if _, err := fmt.Sscanf(first.GetInit().GetUrl(), "/download?size=%d", &size); err != nil {
			return err
		}
		if err := s.Send(&pb.ServeHTTPResponse{Init: &pb.ServeHTTPResponseInit{StatusCode: 200, Headers: []*pb.HTTPHeader{
			{Key: "Content-Length", Values: []string{strconv.FormatInt(size, 10)}},
		}}}); err != nil {
			return err
		}
		msg := &pb.ServeHTTPResponse{}
		for sent := int64(0); sent < size; {
			n := min(int64(chunkBytes), size-sent)
			msg.BodyChunk = payload[:n]
			if err := s.Send(msg); err != nil {
				return err
			}
			sent += n
		}
		return s.Send(&pb.ServeHTTPResponse{BodyComplete: true})
	}
}

// unixPlugin serves fn on a unix socket and returns a pluginconn to it, so
// the benchmark crosses a real transport with the host's dial options.
func unixPlugin(b *testing.B, fn pluginFunc, window int32) *pluginconn.Conn {
	dir, err := os.MkdirTemp("", "sbbench")
	if err != nil {
		b.Fatal(err)
	}
	sock := filepath.Join(dir, "p.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	var opts []grpc.ServerOption
	if window > 0 {
		opts = append(opts, grpc.InitialWindowSize(window), grpc.InitialConnWindowSize(window))
	}
	srv := grpc.NewServer(opts...)
	pb.RegisterPluginHooksServer(srv, &fakePlugin{serve: fn})
	go func() { _ = srv.Serve(lis) }()
	conn, err := pluginconn.Dial("unix:"+sock, pluginconn.Options{WindowBytes: window, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		_ = os.RemoveAll(dir)
	})
	return conn
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkDownload streams benchBytes through the bridge; MB/s is the
// figure. Variants: to a discard ResponseWriter (bridge + gRPC cost only) and
// through a real HTTP server to an HTTP client; window sizes; buffered mode.
func BenchmarkDownload(b *testing.B) {
	size := benchBytes(b)
	for _, tc := range []struct {
		name     string
		window   int32
		chunk    int
		buffered bool
		http     bool
		progress time.Duration // Read/WriteProgressTimeout
	}{
		{"discard/window=8MiB/chunk=64KiB", 8 << 20, 64 << 10, false, false, 0},
		{"discard/window=dynamic/chunk=64KiB", -1, 64 << 10, false, false, 0},
		{"discard/window=8MiB/chunk=1MiB", 8 << 20, 1 << 20, false, false, 0},
		{"http/window=8MiB/chunk=64KiB", 8 << 20, 64 << 10, false, true, 0},
		{"http/window=dynamic/chunk=64KiB", -1, 64 << 10, false, true, 0},
		{"http/buffered/window=8MiB/chunk=64KiB", 8 << 20, 64 << 10, true, true, 0},
		{"http/window=8MiB/chunk=1MiB", 8 << 20, 1 << 20, false, true, 0},
		{"http/window=8MiB/chunk=1MiB/progress=30s", 8 << 20, 1 << 20, false, true, 30 * time.Second},
	} {
		b.Run(tc.name, func(b *testing.B) {
			conn := unixPlugin(b, downloadPlugin(tc.chunk), tc.window)
			bridge := &Bridge{PluginID: "bench", Plugin: pb.NewPluginHooksClient(conn.ClientConn()),
				Buffered: tc.buffered, Log: slog.New(slog.DiscardHandler),
				ReadProgressTimeout: tc.progress, WriteProgressTimeout: tc.progress}
			path := fmt.Sprintf("/download?size=%d", size)
			var url string
			if tc.http {
				srv := httptest.NewServer(bridge)
				b.Cleanup(srv.Close)
				url = srv.URL + path
			}
			b.SetBytes(size)
			cpuBefore := processCPU()
			for b.Loop() {
				if !tc.http {
					bridge.ServeHTTP(&discardWriter{h: http.Header{}}, httptest.NewRequest(http.MethodGet, path, nil))
					continue
				}
				resp, err := http.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || n != size {
					b.Fatalf("got %d bytes, err %v", n, err)
				}
			}
			// CPU time of the whole process (plugin, bridge, client) per GiB:
			// steadier than MB/s on a shared machine.
			b.ReportMetric((processCPU()-cpuBefore).Seconds()/(float64(size)*float64(b.N)/(1<<30)), "cpu-s/GiB")
		})
	}
}

// processCPU is the user + system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
