// Package router maps the host's URL space onto its handlers:
//
//	/plugins/{id}/...  the plugin, with the /plugins/{id} prefix stripped (the
//	                   plugin handler drops a client's Mattermost-User-Id)
//	/healthz           200 when the plugin's health is SERVING, else 503
//	/debug/stats       JSON stats
//	/metrics           Prometheus metrics
//	/direct/download   Go-direct reference download
//	/direct/upload     Go-direct reference upload
//	/direct/file       Go-direct reference file (the files root, as the offload)
//	/grpc-floor/...    the plugin's response pulled over gRPC and discarded (a JSON count)
package router

import (
	"net/http"

	"github.com/streambench/host/internal/direct"
	"github.com/streambench/host/internal/files"
)

// Routes are the handlers behind the host's URL space.
type Routes struct {
	// PluginID is the only id served under /plugins/; others get 404.
	PluginID string
	// Plugin serves plugin requests (the bridge). It sees the URL with the
	// /plugins/{id} prefix stripped and RequestURI as the client sent it; the
	// headers are the client's, so it is the one that must not forward a
	// client's Mattermost-User-Id (the bridge drops it where it builds the
	// plugin's request).
	Plugin http.Handler
	// Healthy reports plugin readiness for /healthz; nil means always ready.
	Healthy func() bool
	// HealthDetail, if set, is written in /healthz bodies (e.g. "SERVING").
	HealthDetail func() string
	// Stats serves /debug/stats; nil means 404.
	Stats http.Handler
	// Metrics serves /metrics (Prometheus text format); nil means 404.
	Metrics http.Handler
	// Files is the files root /direct/file serves from; nil: 404.
	Files *files.Root
	// Floor serves /grpc-floor/... with the prefix stripped (the bridge's
	// Floor: the response pulled from the plugin and discarded); nil: 404.
	Floor http.Handler
}

// New returns the host's handler.
func New(rt Routes) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/plugins/{id}/", rt.servePlugin)
	mux.HandleFunc("GET /healthz", rt.serveHealth)
	if rt.Stats != nil {
		mux.Handle("GET /debug/stats", rt.Stats)
	}
	if rt.Metrics != nil {
		mux.Handle("GET /metrics", rt.Metrics)
	}
	mux.HandleFunc("GET /direct/download", direct.Download)
	mux.HandleFunc("/direct/upload", direct.Upload)
	mux.HandleFunc("GET /direct/file", direct.File(rt.Files))
	if rt.Floor != nil {
		mux.Handle("GET /grpc-floor/", http.StripPrefix("/grpc-floor", rt.Floor))
	}
	return mux
}

func (rt Routes) servePlugin(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id != rt.PluginID {
		http.Error(w, "unknown plugin "+id, http.StatusNotFound)
		return
	}
	// The mux pattern ends in "/", so the stripped path is never empty.
	http.StripPrefix("/plugins/"+id, rt.Plugin).ServeHTTP(w, r)
}

func (rt Routes) serveHealth(w http.ResponseWriter, _ *http.Request) {
	detail := ""
	if rt.HealthDetail != nil {
		detail = rt.HealthDetail()
	}
	w.Header().Set("Cache-Control", "no-store")
	if rt.Healthy != nil && !rt.Healthy() {
		http.Error(w, "plugin not ready: "+detail, http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok " + detail + "\n"))
}
