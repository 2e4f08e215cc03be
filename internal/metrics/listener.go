package metrics

import (
	"net/http"
	"net/http/pprof" // #nosec G108 -- the handlers are mounted on the private mux below only; http.DefaultServeMux, where the package also registers them, is never served
)

// OpsHandler is the operator's listener (METRICS_ADDR): /metrics and the
// Go profiler under /debug/pprof/. It is meant for a private address
// (loopback, or a port the Kubernetes Service does not expose), never for
// the public one: profiles reveal internals and cost CPU, so the public
// listener has neither.
func (m *Metrics) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("rightsdesk operations listener: /metrics, /debug/pprof/\n"))
	})
	return mux
}
