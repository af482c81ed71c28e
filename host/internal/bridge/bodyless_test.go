package bridge

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"testing"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

// oneConnClient talks to the server over a single connection (HTTP/1.1 or
// h2c prior knowledge), so a second request shows whether it was reused.
func oneConnClient(t *testing.T, h2c bool) *http.Client {
	t.Helper()
	return protocolClient(t, &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}, h2c)
}

type tracedResponse struct {
	status      int
	body        string
	informed    []int // 1xx responses seen before the final one
	reusedConn  bool
	kept        string // the plugin's X-Kept header
	readBodyErr error
}

func tracedDo(t *testing.T, client *http.Client, method, url string) tracedResponse {
	t.Helper()
	var got tracedResponse
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { got.reusedConn = info.Reused },
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
			got.informed = append(got.informed, code)
			return nil
		},
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v (the host must deliver the status, not drop the connection)", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	got.status, got.body, got.kept, got.readBodyErr = resp.StatusCode, string(body), resp.Header.Get("X-Kept"), err
	return got
}

// TestBodyForbiddenByStatusIsDropped: a plugin that writes a body after a
// status that forbids one (204, 304) gets its status and headers delivered,
// the body dropped with one warning line per response, and the connection
// kept for the next request. 1xx statuses go out as informational responses
// (the body follows under an implicit 200, as net/http does for any
// handler), and HEAD drops the body silently, as it always has.
func TestBodyForbiddenByStatusIsDropped(t *testing.T) {
	const body = "a body the status has no room for"
	for _, tc := range []struct {
		name        string
		method      string
		status      int32
		sendBody    bool
		buffered    bool
		wantStatus  int
		wantBody    string
		wantInfo    []int
		wantDropped int // bytes the warning line must report; 0: no warning
	}{
		{"204 with body", "GET", 204, true, false, 204, "", nil, len(body)},
		{"204 without body", "GET", 204, false, false, 204, "", nil, 0},
		{"304 with body", "GET", 304, true, false, 304, "", nil, len(body)},
		{"304 without body", "GET", 304, false, false, 304, "", nil, 0},
		{"204 with body, buffered", "GET", 204, true, true, 204, "", nil, len(body)},
		{"103 with body: informational, then 200 with the body", "GET", 103, true, false, 200, body, []int{103}, 0},
		{"HEAD 200 with body: dropped silently", "HEAD", 200, true, false, 200, "", nil, 0},
		{"HEAD 204 with body", "HEAD", 204, true, false, 204, "", nil, len(body)},
		{"200 with body", "GET", 200, true, false, 200, body, nil, 0},
	} {
		for _, proto := range []string{"HTTP/1.1", "h2c"} {
			t.Run(tc.name+" over "+proto, func(t *testing.T) {
				if proto == "h2c" && tc.status == 103 {
					// Go's HTTP/2 client hands 1xx to the trace, like HTTP/1; kept
					// to HTTP/1 so the case names one behaviour.
					t.Skip("1xx covered over HTTP/1.1")
				}
				msgs := []*pb.ServeHTTPResponse{initMsg(tc.status, "X-Kept", "yes")}
				if tc.sendBody {
					// Two chunks and a flush in between: counted across messages.
					msgs = append(msgs, chunk(body[:10]), flushMsg(), chunk(body[10:]))
				}
				msgs = append(msgs, done())
				b, logs := newBridge(t, replay(nil, msgs...))
				b.Buffered = tc.buffered
				b.WriteProgressTimeout = DefaultPumpStopTimeout // pieces and deadlines on too
				srv := protocolServer(t, nil, b)
				client := oneConnClient(t, proto == "h2c")

				got := tracedDo(t, client, tc.method, srv.URL+"/status")
				if got.readBodyErr != nil || got.status != tc.wantStatus || got.body != tc.wantBody {
					t.Fatalf("got %d %q (read err %v), want %d %q", got.status, got.body, got.readBodyErr, tc.wantStatus, tc.wantBody)
				}
				if !slices.Equal(got.informed, tc.wantInfo) {
					t.Fatalf("1xx responses %v, want %v", got.informed, tc.wantInfo)
				}
				if got.kept != "yes" {
					t.Fatalf("the plugin's header did not reach the client (X-Kept %q)", got.kept)
				}
				again := tracedDo(t, client, tc.method, srv.URL+"/status")
				if again.status != tc.wantStatus || !again.reusedConn {
					t.Fatalf("second request: status %d, reused connection %v; want %d on the same connection",
						again.status, again.reusedConn, tc.wantStatus)
				}
				// The handler logs as it returns, which may be after the client has
				// the response.
				waitFor(t, func() bool { return b.Streams.Active() == 0 }, "both handlers to return")
				warnings := strings.Count(logs.String(), "status that forbids one")
				if tc.wantDropped == 0 {
					if warnings != 0 || strings.Contains(logs.String(), "plugin request failed") {
						t.Fatalf("unexpected log:\n%s", logs)
					}
					return
				}
				if warnings != 2 { // one per response, two responses
					t.Fatalf("%d warning lines for 2 responses, want 2:\n%s", warnings, logs)
				}
				mustContain(t, logs, "level=WARN", "plugin_id=bench", "path=/status", "method="+tc.method,
					"status="+strconv.Itoa(int(tc.status)), "dropped_bytes="+strconv.Itoa(tc.wantDropped))
				if strings.Contains(logs.String(), "plugin request failed") {
					t.Fatalf("a dropped body must not fail the request:\n%s", logs)
				}
			})
		}
	}
}
