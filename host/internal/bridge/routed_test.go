package bridge

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
	"github.com/streambench/host/internal/router"
)

// TestRoutedRequestDropsClientUserID: through the host's router and the
// bridge together, the plugin gets the stripped path and never a
// client-supplied Mattermost-User-Id, in any letter case.
func TestRoutedRequestDropsClientUserID(t *testing.T) {
	for _, name := range []string{"Mattermost-User-Id", "mattermost-user-id", "MATTERMOST-USER-ID"} {
		t.Run(name, func(t *testing.T) {
			inits := make(chan *pb.ServeHTTPRequestInit, 1)
			b, _ := newBridge(t, func(s pb.PluginHooks_ServeHTTPServer) error {
				m, err := s.Recv()
				if err != nil {
					return err
				}
				inits <- m.GetInit()
				return s.Send(done())
			})
			host := router.New(router.Routes{PluginID: "bench", Plugin: b})
			req := httptest.NewRequest(http.MethodGet, "/plugins/bench/headers?x=1", nil)
			req.Header[name] = []string{"forged"} // as sent, not canonicalised
			req.Header.Set("X-Keep", "1")
			rec := newRecorder()
			serve(t, host, rec, req)

			got := <-inits
			if got.GetUrl() != "/headers?x=1" {
				t.Fatalf("plugin saw URL %q", got.GetUrl())
			}
			kept := false
			for _, h := range got.GetHeaders() {
				if strings.EqualFold(h.GetKey(), UserIDHeader) {
					t.Fatalf("client %s forwarded to the plugin: %v", name, h.GetValues())
				}
				kept = kept || h.GetKey() == "X-Keep"
			}
			if !kept {
				t.Fatalf("other headers lost: %v", got.GetHeaders())
			}
		})
	}
}
