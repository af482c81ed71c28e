// Command goplugin is the demo plugin of the Go peer: a Go plugin on the
// legacy plugin RPC (hashicorp/go-plugin, net/rpc), serving the routes of the
// Python demo plugin that the bench measures. It is started by
// gopluginhost, never by hand: go-plugin's handshake cookie must be in its
// environment.
//
// Routes (paths as the plugin sees them; the host strips /plugins/bench):
//
//	GET  /download?size=N&chunk=C  N bytes, byte i = i % 256, written C bytes per Write
//	POST /upload[?hash=none]       reads the body incrementally -> {"bytes": n, "sha256": hex}
//	anything else                  404 {"error": ...}
package main

import (
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/streambench/host/internal/legacyrpc"
)

func main() {
	// JSON lines on the real stderr: go-plugin's client in the host parses
	// them and logs each at its level.
	log := hclog.New(&hclog.LoggerOptions{Name: "goplugin", Output: os.Stderr, JSONFormat: true, Level: hclog.Info})
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: legacyrpc.Handshake,
		Plugins:         plugin.PluginSet{legacyrpc.PluginName: &legacyrpc.HooksPlugin{Impl: newDemo()}},
		Logger:          log,
	})
}
