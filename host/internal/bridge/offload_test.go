package bridge

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"

	"github.com/streambench/host/internal/admission"
	"github.com/streambench/host/internal/files"
)

// fileContent is report.txt's content in the test files root.
const fileContent = "0123456789abcdefghijklmnopqrstuvwxyz"

// fileModTime is the files' modification time (whole seconds, as HTTP dates are).
var fileModTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// testFiles is a files root with a file, a directory, and a link to a
// secret beside the root that must never be served.
func testFiles(t testing.TB) (*files.Root, string) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for _, err := range []error{
		os.Mkdir(root, 0o755),
		os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o644),
		os.WriteFile(filepath.Join(root, "report.txt"), []byte(fileContent), 0o644),
		os.WriteFile(filepath.Join(root, "blob"), []byte(fileContent), 0o644),
		os.Mkdir(filepath.Join(root, "sub"), 0o755),
		os.Symlink("../secret.txt", filepath.Join(root, "escape")),
		os.Chtimes(filepath.Join(root, "report.txt"), fileModTime, fileModTime),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	r, err := files.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, root
}

// sendfile is a plugin that answers with X-Sendfile: name and the given
// status and headers, then body_complete.
func sendfile(name string, status int32, kv ...string) pluginFunc {
	return replay(nil, initMsg(status, append([]string{SendfileHeader, name}, kv...)...), done())
}

func countFailures(logs *logBuffer) int {
	return strings.Count(logs.String(), `msg="plugin request failed"`)
}

// TestOffloadRefusals: every X-Sendfile the host must not serve gets a
// clear status before anything of the plugin's reached the client, and
// exactly one log line with the plugin, the path and the reason.
func TestOffloadRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		plugin  pluginFunc
		noFiles bool // offload off
		status  int
		reason  string
	}{
		{"missing file", sendfile("nope.txt", 200), false, 404, "file offload: no such file under the files root"},
		{"directory", sendfile("sub", 200), false, 404, "file offload: not a regular file"},
		{"dot-dot", sendfile("../secret.txt", 200), false, 403, "file offload: path is not a readable file inside the files root"},
		{"absolute path", sendfile("/etc/passwd", 200), false, 403, "file offload: path is not a readable file inside the files root"},
		{"symlink out of the root", sendfile("escape", 200), false, 403, "file offload: path is not a readable file inside the files root"},
		{"offload off", sendfile("report.txt", 200), true, 500, "X-Sendfile while file offload is off"},
		{"status 404 with X-Sendfile", sendfile("report.txt", 404), false, 500, "protocol error: X-Sendfile with status 404 (want 200)"},
		{"status 206 with X-Sendfile", sendfile("report.txt", 206), false, 500, "protocol error: X-Sendfile with status 206"},
		{"two files", replay(nil, initMsg(200, SendfileHeader, "report.txt", "x-sendfile", "blob"), done()), false, 500,
			"protocol error: X-Sendfile with 2 values"},
		{"body chunk on the init", replay(nil, &pb.ServeHTTPResponse{Init: initMsg(200, SendfileHeader, "report.txt").Init,
			BodyChunk: []byte("bytes"), BodyComplete: true}), false, 500, "protocol error: body_chunk beside X-Sendfile"},
		{"body chunk after the init", replay(nil, initMsg(200, SendfileHeader, "report.txt"), chunk("bytes"), done()), false, 500,
			"protocol error: body_chunk beside X-Sendfile"},
		{"second init", replay(nil, initMsg(200, SendfileHeader, "report.txt"), initMsg(200), done()), false, 500,
			"protocol error: second response-init"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, logs := newBridge(t, tc.plugin)
			if !tc.noFiles {
				b.Files, _ = testFiles(t)
			}
			rec := newRecorder()
			if serve(t, b, rec, get("/files/x")) {
				t.Fatal("aborted: the refusal must be a status")
			}
			st, _, body := rec.snapshot()
			if st != tc.status || rec.headerCalls != 1 {
				t.Fatalf("status %d after %d WriteHeader calls, want %d once", st, rec.headerCalls, tc.status)
			}
			if strings.Contains(body, fileContent) || strings.Contains(body, "secret") {
				t.Fatalf("body %q has file bytes", body)
			}
			if rec.headerAtWrite.Get(SendfileHeader) != "" {
				t.Fatalf("X-Sendfile reached the client: %v", rec.headerAtWrite)
			}
			mustContain(t, logs, "plugin_id=bench", "path=/files/x", tc.reason)
			if n := countFailures(logs); n != 1 {
				t.Fatalf("%d failure lines, want 1:\n%s", n, logs)
			}
		})
	}
}

// TestOffloadServesFile: the host serves the file with http.ServeContent for
// the client's request (ranges, validators, HEAD), with the plugin's headers
// and never its X-Sendfile or Content-Length, over HTTP/1.1 and h2c.
func TestOffloadServesFile(t *testing.T) {
	lastModified := fileModTime.Format(http.TimeFormat)
	for _, tc := range []struct {
		name     string
		method   string
		file     string
		header   map[string]string // the client's request headers
		status   int
		body     string
		wantHead map[string]string // response headers that must be there ("" = absent)
	}{
		{name: "whole file", method: "GET", file: "report.txt", status: 200, body: fileContent,
			wantHead: map[string]string{"Content-Type": "application/pdf", "Content-Disposition": `attachment; filename="r.pdf"`,
				"Cache-Control": "private", "Content-Length": strconv.Itoa(len(fileContent)), "Last-Modified": lastModified,
				"Accept-Ranges": "bytes", "X-Sendfile": ""}},
		{name: "range", method: "GET", file: "report.txt", header: map[string]string{"Range": "bytes=10-15"}, status: 206, body: "abcdef",
			wantHead: map[string]string{"Content-Range": "bytes 10-15/36", "Content-Length": "6"}},
		{name: "suffix range", method: "GET", file: "report.txt", header: map[string]string{"Range": "bytes=-3"}, status: 206, body: "xyz"},
		{name: "range past the end", method: "GET", file: "report.txt", header: map[string]string{"Range": "bytes=100-"}, status: 416,
			wantHead: map[string]string{"Content-Range": "bytes */36"}},
		{name: "If-None-Match on the plugin's ETag", method: "GET", file: "report.txt", header: map[string]string{"If-None-Match": `"v1"`},
			status: 304},
		{name: "If-Modified-Since the file's time", method: "GET", file: "report.txt",
			header: map[string]string{"If-Modified-Since": lastModified}, status: 304},
		{name: "If-Modified-Since before", method: "GET", file: "report.txt",
			header: map[string]string{"If-Modified-Since": fileModTime.Add(-time.Hour).Format(http.TimeFormat)}, status: 200, body: fileContent},
		{name: "If-Range on another ETag: the whole file", method: "GET", file: "report.txt",
			header: map[string]string{"Range": "bytes=0-1", "If-Range": `"v0"`}, status: 200, body: fileContent},
		{name: "If-Match on another ETag", method: "GET", file: "report.txt", header: map[string]string{"If-Match": `"v0"`}, status: 412},
		{name: "HEAD: headers only", method: "HEAD", file: "report.txt", status: 200,
			wantHead: map[string]string{"Content-Length": strconv.Itoa(len(fileContent)), "Content-Type": "application/pdf"}},
	} {
		for _, proto := range protocols {
			t.Run(proto.name+" "+tc.name, func(t *testing.T) {
				b, logs := newBridge(t, sendfile(tc.file, 0, "Content-Type", "application/pdf",
					"Content-Disposition", `attachment; filename="r.pdf"`, "Cache-Control", "private", "ETag", `"v1"`,
					"Content-Length", "999"))
				b.Files, _ = testFiles(t)
				observer := &recordingObserver{}
				b.Observer = observer
				srv := protocolServer(t, nil, b)
				req, _ := http.NewRequest(tc.method, srv.URL+"/download", nil)
				for k, v := range tc.header {
					req.Header.Set(k, v)
				}
				resp, err := protocolClient(t, &http.Transport{}, proto.h2c).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != tc.status || (tc.body != "" && string(body) != tc.body) ||
					(tc.status == 304 || tc.method == "HEAD") && len(body) != 0 {
					t.Fatalf("%d %q (err %v), want %d %q", resp.StatusCode, body, err, tc.status, tc.body)
				}
				for k, want := range tc.wantHead {
					if got := resp.Header.Get(k); got != want {
						t.Errorf("%s = %q, want %q", k, got, want)
					}
				}
				srv.Close() // waits for the handler
				// ServeContent's own answers (416's text) are body bytes too.
				if got := observer.only(t); got.toClient != len(body) || got.outcomes[0] != OutcomeOK || got.started != 1 {
					t.Errorf("observed %+v, want %d bytes to the client, ok", got, len(body))
				}
				if countFailures(logs) != 0 {
					t.Fatalf("failure logged:\n%s", logs)
				}
			})
		}
	}
	t.Run("type from the extension or the content when the plugin sets none", func(t *testing.T) {
		for file, want := range map[string]string{"report.txt": "text/plain; charset=utf-8", "blob": "text/plain; charset=utf-8"} {
			b, _ := newBridge(t, sendfile(file, 200))
			b.Files, _ = testFiles(t)
			rec := httptest.NewRecorder()
			serve(t, b, rec, get("/f"))
			if rec.Code != 200 || rec.Body.String() != fileContent || rec.Header().Get("Content-Type") != want {
				t.Errorf("%s: %d %q type %q, want %q", file, rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"), want)
			}
		}
	})
	t.Run("buffered mode serves the file the same way", func(t *testing.T) {
		b, _ := newBridge(t, sendfile("report.txt", 200))
		b.Files, _ = testFiles(t)
		b.Buffered = true
		rec := httptest.NewRecorder()
		serve(t, b, rec, get("/f"))
		if rec.Code != 200 || rec.Body.String() != fileContent {
			t.Fatalf("%d %q", rec.Code, rec.Body.String())
		}
	})
}

// TestSendfileTypeAdvertised: the plugin's request says X-Sendfile-Type:
// X-Sendfile only when the host has a files root, and a client's own
// X-Sendfile-Type never reaches the plugin, in any letter case.
func TestSendfileTypeAdvertised(t *testing.T) {
	for _, offload := range []bool{false, true} {
		for _, clientKey := range []string{"", "X-Sendfile-Type", "x-sendfile-type"} {
			t.Run(strconv.FormatBool(offload)+" "+clientKey, func(t *testing.T) {
				inits := make(chan *pb.ServeHTTPRequestInit, 1)
				b, _ := newBridge(t, func(s pb.PluginHooks_ServeHTTPServer) error {
					m, err := s.Recv()
					if err != nil {
						return err
					}
					inits <- m.GetInit()
					return s.Send(done())
				})
				if offload {
					b.Files, _ = testFiles(t)
				}
				req := get("/x")
				if clientKey != "" {
					req.Header[clientKey] = []string{"X-Accel-Redirect"} // as sent, not canonicalised
				}
				serve(t, b, newRecorder(), req)
				var got []string
				for _, h := range (<-inits).GetHeaders() {
					if strings.EqualFold(h.GetKey(), SendfileTypeHeader) {
						got = append(got, h.GetValues()...)
					}
				}
				want := []string(nil)
				if offload {
					want = []string{"X-Sendfile"}
				}
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Fatalf("plugin saw X-Sendfile-Type %q, want %q", got, want)
				}
			})
		}
	}
}

// bigFile makes a sparse file of size bytes under a new files root.
func bigFile(t testing.TB, size int64) (*files.Root, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "big.bin")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := files.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, path
}

// TestOffloadLargeFileInBoundedMemory: a 1 GiB file passes through the
// offload without the host holding its bytes: everything the process
// allocates while the whole file goes out (live or garbage, the client's
// side included) stays within a few MiB.
func TestOffloadLargeFileInBoundedMemory(t *testing.T) {
	const size = 1 << 30
	b, _ := newBridge(t, func(s pb.PluginHooks_ServeHTTPServer) error {
		m, err := s.Recv()
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(m.GetInit().GetUrl(), "/")
		return replay(nil, initMsg(200, SendfileHeader, name), done())(&replayed{s})
	})
	root, path := bigFile(t, size)
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "small.bin"), []byte("warm"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Files = root
	b.WriteProgressTimeout = 30 * time.Second // the pieced path, as the host runs by default
	b.Observer = &recordingObserver{}
	srv := protocolServer(t, nil, b)
	client := protocolClient(t, &http.Transport{}, false)
	get := func(name string) (int, int64, error) {
		resp, err := client.Get(srv.URL + "/" + name)
		if err != nil {
			return 0, 0, err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, n, err
	}
	// Warm up: the plugin's connection (bufconn's buffers) and the client's.
	if code, n, err := get("small.bin"); code != 200 || n != 4 || err != nil {
		t.Fatalf("warm-up: %d, %d bytes, %v", code, n, err)
	}
	// The live heap, sampled after a forced collection again and again
	// while the file goes out.
	live := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	base := live()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak uint64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak = max(peak, live())
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	code, n, err := get("big.bin")
	close(stop)
	<-sampled
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if err != nil || n != size || code != 200 {
		t.Fatalf("status %d, %d bytes, err %v; want 200 and %d bytes", code, n, err, size)
	}
	growth := int64(peak) - int64(base)
	// Allocations in all are ~2 MiB per GiB without -race; the race
	// detector's sync.Pool drops buffers at random, so they are only logged.
	t.Logf("live heap %d B at start, peak growth %d B; %d B allocated in all for a %d B file",
		base, growth, after.TotalAlloc-before.TotalAlloc, size)
	if growth > 16<<20 {
		t.Fatalf("live heap grew %d B serving a %d B file, want < 16 MiB", growth, size)
	}
}

// replayed lets a plugin func that already read the request init hand the
// rest of the stream to replay, which reads one message first.
type replayed struct{ pb.PluginHooks_ServeHTTPServer }

func (r *replayed) Recv() (*pb.ServeHTTPRequest, error) { return &pb.ServeHTTPRequest{}, nil }

// TestOffloadReleasesBudgetAndSlot: once the plugin's stream has ended, a
// file copy still in progress holds neither its budget share nor its
// admission slot: another request runs meanwhile.
func TestOffloadReleasesBudgetAndSlot(t *testing.T) {
	b, _ := newBridge(t, sendfile("big.bin", 200))
	b.Files, _ = bigFile(t, 256<<20)
	b.Budget = NewBudget(b.PerStreamBytes()) // room for one stream
	limiter := admission.New(1, 0, time.Minute)
	srv := progressServer(t, limiter.Middleware(b, b.Log, time.Second))
	resp, err := smallBufferClient(t, false).Get(srv.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The client reads nothing: the copy is stuck in the socket buffers.
	waitFor(t, func() bool { return b.Streams.Active() == 1 && b.Budget.InUse() == 0 && limiter.Active() == 0 },
		"the copy to hold no budget and no slot")
	second, err := http.Get(srv.URL + "/big") // admitted now, with no queue at all
	if err != nil {
		t.Fatal(err)
	}
	second.Body.Close()
	if second.StatusCode != 200 {
		t.Fatalf("second request: %d, want 200 while the first copy runs", second.StatusCode)
	}
}

// TestOffloadStalledReaderIsCut: a client that stops reading an offloaded
// file has it aborted after write-progress-timeout, like a bridged body.
func TestOffloadStalledReaderIsCut(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.name, func(t *testing.T) {
			b, logs := newBridge(t, sendfile("big.bin", 200))
			b.Files, _ = bigFile(t, 256<<20)
			b.WriteProgressTimeout = 200 * time.Millisecond
			srv := progressServer(t, b)
			resp, err := smallBufferClient(t, proto.h2c).Get(srv.URL + "/big")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			waitFor(t, func() bool { return b.Streams.Active() == 0 }, "the handler to give up on the client")
			mustContain(t, logs, "level=WARN", "path=/big", "client read no response bytes within write-progress-timeout", "outcome=abort")
			if n, err := io.Copy(io.Discard, resp.Body); err == nil {
				t.Fatalf("read %d bytes to a clean end: an aborted response looked complete", n)
			}
		})
	}
}

// TestOffloadFileShrinkingIsAnAbort: a file truncated while it is being
// served ends the response as an abort, never as a short body that looks
// complete, with one line saying so.
func TestOffloadFileShrinkingIsAnAbort(t *testing.T) {
	b, logs := newBridge(t, sendfile("big.bin", 200))
	var path string
	b.Files, path = bigFile(t, 256<<20)
	srv := progressServer(t, b)
	resp, err := smallBufferClient(t, false).Get(srv.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, resp.Body); err == nil {
		t.Fatalf("read %d more bytes to a clean end after the file shrank", n)
	}
	waitFor(t, func() bool { return b.Streams.Active() == 0 }, "the handler to return")
	mustContain(t, logs, "path=/big", "file offload: the file ended before its Content-Length", "outcome=abort")
}

// recordingWriter is a ResponseWriter with ReadFrom that records whether the
// copy reached it (net/http's own writer is where sendfile happens).
type recordingWriter struct {
	*httptest.ResponseRecorder
	mu       sync.Mutex
	readFrom int64
}

func (w *recordingWriter) ReadFrom(src io.Reader) (int64, error) {
	n, err := io.Copy(writerOnly{w.ResponseRecorder}, src)
	w.mu.Lock()
	w.readFrom += n
	w.mu.Unlock()
	return n, err
}

// TestOffloadCopyReachesReadFrom: through the observer's and the progress
// deadline's wrappers, ServeContent's copy reaches the client writer's
// ReadFrom (where net/http does sendfile), with or without a deadline, and
// the observer counts it.
func TestOffloadCopyReachesReadFrom(t *testing.T) {
	for _, timeout := range []time.Duration{0, 30 * time.Second} {
		t.Run(timeout.String(), func(t *testing.T) {
			const size = 1<<20 + 123 // pieces and a short last one
			b, _ := newBridge(t, sendfile("big.bin", 200))
			b.Files, _ = bigFile(t, size)
			b.WriteProgressTimeout = timeout
			observer := &recordingObserver{}
			b.Observer = observer
			w := &recordingWriter{ResponseRecorder: httptest.NewRecorder()}
			serve(t, b, w, get("/big"))
			if w.Code != 200 || w.Body.Len() != size || !bytes.Equal(w.Body.Bytes()[:16], make([]byte, 16)) {
				t.Fatalf("%d, %d bytes", w.Code, w.Body.Len())
			}
			// ServeContent sniffs nothing here (the plugin set no type, the
			// name has no extension: it reads 512 bytes and seeks back),
			// then the whole body goes through ReadFrom.
			if w.readFrom != size {
				t.Fatalf("ReadFrom copied %d of %d bytes", w.readFrom, size)
			}
			if got := observer.only(t); got.toClient != size {
				t.Fatalf("observer counted %d bytes, want %d", got.toClient, size)
			}
		})
	}
}
