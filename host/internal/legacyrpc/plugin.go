package legacyrpc

import (
	"log/slog"
	"net/http"
	"net/rpc"

	"github.com/hashicorp/go-plugin"
)

// Handshake is what host and plugin binary must agree on before go-plugin
// connects them; the cookie keeps the plugin binary from running by itself.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "STREAMBENCH_GOPLUGIN",
	MagicCookieValue: "legacy-plugin-rpc",
}

// PluginName is the name the host dispenses the plugin's hooks by.
const PluginName = "hooks"

// Plugin is what a plugin binary implements: its HTTP handler and its own
// process figures for the host's /debug/stats.
type Plugin interface {
	ServeHTTP(w http.ResponseWriter, r *http.Request)
	Stats(collectGarbage bool) Stats
}

// HooksPlugin is the go-plugin Plugin of both sides: the plugin binary sets
// Impl and serves it (Server), the host sets Log and dispenses a *HooksClient
// (Client).
type HooksPlugin struct {
	Impl Plugin       // plugin side
	Log  *slog.Logger // host side; nil means slog.Default()
}

var _ plugin.Plugin = (*HooksPlugin)(nil)

// Server returns the plugin side's net/rpc receiver.
func (p *HooksPlugin) Server(broker *plugin.MuxBroker) (any, error) {
	return &HooksServer{impl: p.Impl, broker: broker}, nil
}

// Client returns the host side's hooks client.
func (p *HooksPlugin) Client(broker *plugin.MuxBroker, client *rpc.Client) (any, error) {
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	return &HooksClient{broker: broker, client: client, log: log}, nil
}
