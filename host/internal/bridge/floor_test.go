package bridge

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

func TestFloor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		plugin  pluginFunc
		method  string
		code    int
		result  FloorResult
		logPart string
	}{
		{"whole body", replay(nil, initMsg(200), chunk("hello"), chunk(" world"), done()), "GET", 200,
			FloorResult{Status: 200, Bytes: 11, Messages: 4, Complete: true}, ""},
		{"body in the init message", replay(nil, initWithChunk(206, "ab"), done()), "GET", 200,
			FloorResult{Status: 206, Bytes: 2, Messages: 2, Complete: true}, ""},
		{"stream ends without body_complete", replay(nil, initMsg(200), chunk("abc")), "GET", 200,
			FloorResult{Status: 200, Bytes: 3, Messages: 2, Complete: false}, ""},
		{"plugin fails", replay(status.Error(codes.Internal, "boom"), initMsg(200), chunk("abc")), "GET", 502,
			FloorResult{}, "grpc floor failed"},
		{"not a GET", replay(nil, initMsg(200), done()), "POST", 405, FloorResult{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, logs := newBridge(t, tc.plugin)
			rec := httptest.NewRecorder()
			b.Floor().ServeHTTP(rec, httptest.NewRequest(tc.method, "/download?size=11", nil))
			if rec.Code != tc.code {
				t.Fatalf("status %d (%q), want %d", rec.Code, rec.Body.String(), tc.code)
			}
			if tc.logPart != "" {
				mustContain(t, logs, tc.logPart, "path=/download")
			}
			if tc.code != http.StatusOK {
				return
			}
			var got FloorResult
			if err := json.NewDecoder(strings.NewReader(rec.Body.String())).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.result {
				t.Fatalf("got %+v, want %+v", got, tc.result)
			}
		})
	}
}

// TestFloorSendsTheRequestInit: the plugin sees the bridge's request-init
// (method, URL, body_complete at once), without an offload advertisement.
func TestFloorSendsTheRequestInit(t *testing.T) {
	seen := make(chan string, 1)
	b, _ := newBridge(t, func(stream pb.PluginHooks_ServeHTTPServer) error {
		req, err := stream.Recv()
		if err != nil {
			return err
		}
		var sendfileType string
		for _, h := range req.GetInit().GetHeaders() {
			if h.GetKey() == SendfileTypeHeader {
				sendfileType = h.GetValues()[0]
			}
		}
		seen <- req.GetInit().GetMethod() + " " + req.GetInit().GetUrl() + " complete=" +
			map[bool]string{true: "yes", false: "no"}[req.GetBodyComplete()] + " sendfile=" + sendfileType
		return stream.Send(done())
	})
	b.Files, _ = testFiles(t)
	rec := httptest.NewRecorder()
	b.Floor().ServeHTTP(rec, httptest.NewRequest("GET", "/download?size=3", nil))
	if got := <-seen; got != "GET /download?size=3 complete=yes sendfile=" {
		t.Fatalf("plugin saw %q", got)
	}
}

func initWithChunk(status int32, body string) *pb.ServeHTTPResponse {
	m := initMsg(status)
	m.BodyChunk = []byte(body)
	return m
}
