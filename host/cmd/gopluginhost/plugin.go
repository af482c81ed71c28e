package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/streambench/host/internal/legacyrpc"
)

// pluginProcess is the plugin binary running as this host's child, started
// and connected go-plugin's way.
type pluginProcess struct {
	client *plugin.Client
	rpc    plugin.ClientProtocol
	hooks  *legacyrpc.HooksClient
}

// startPlugin starts bin and dispenses its hooks. The child runs Go code on
// procs threads unless GOMAXPROCS is already in the environment (it inherits
// that); go-plugin's own lines and the plugin's stderr go to stderr at
// logLevel.
func startPlugin(bin string, procs int, getenv func(string) string, log *slog.Logger, logLevel string, stderr io.Writer) (*pluginProcess, error) {
	cmd := exec.Command(bin)
	if getenv("GOMAXPROCS") == "" {
		cmd.Env = []string{"GOMAXPROCS=" + strconv.Itoa(procs)} // go-plugin appends the host's environment
	}
	dieWithParent(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  legacyrpc.Handshake,
		Plugins:          plugin.PluginSet{legacyrpc.PluginName: &legacyrpc.HooksPlugin{Log: log}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolNetRPC},
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:   "go-plugin",
			Output: stderr,
			Level:  hclog.LevelFromString(logLevel),
		}),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("starting plugin %s: %w", bin, err)
	}
	raw, err := rpc.Dispense(legacyrpc.PluginName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("dispensing %q from plugin %s: %w", legacyrpc.PluginName, bin, err)
	}
	hooks, ok := raw.(*legacyrpc.HooksClient)
	if !ok {
		client.Kill()
		return nil, fmt.Errorf("plugin %s dispensed a %T, not hooks", bin, raw)
	}
	return &pluginProcess{client: client, rpc: rpc, hooks: hooks}, nil
}

// healthy reports whether the plugin's RPC client answers a ping.
func (p *pluginProcess) healthy() bool { return !p.client.Exited() && p.rpc.Ping() == nil }

// status is the /healthz detail.
func (p *pluginProcess) status() string {
	if p.client.Exited() {
		return "plugin process exited"
	}
	if err := p.rpc.Ping(); err != nil {
		return "plugin RPC: " + err.Error()
	}
	return "plugin RPC answers"
}

// kill asks the plugin to quit and kills it if it does not within a few
// seconds (go-plugin's Client.Kill).
func (p *pluginProcess) kill() { p.client.Kill() }

// pluginStats is the plugin's object of /debug/stats, asked over Plugin.Stats.
type pluginStats struct{ hooks *legacyrpc.HooksClient }

func (s pluginStats) ReadStats(ctx context.Context, collectGarbage bool) (any, error) {
	return s.hooks.Stats(ctx, collectGarbage)
}
