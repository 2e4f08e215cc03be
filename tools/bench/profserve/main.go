// Command profserve runs `rightsdesk serve` (the same internal/app code path
// as the real binary) with net/http/pprof on a second, loopback-only
// listener, so scripts/bench can take a CPU and allocation profile of the
// intake under load without touching the application.
//
//	PPROF_ADDR=127.0.0.1:6061 profserve        # then the usual serve environment
//	go tool pprof -top http://127.0.0.1:6061/debug/pprof/profile?seconds=10
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata"

	"rightsdesk/internal/app"
	"rightsdesk/internal/config"
)

func main() {
	addr := os.Getenv("PPROF_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6061"
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(os.Stderr, "profserve: PPROF_ADDR must be a loopback host:port, got %q\n", addr)
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	go func() {
		srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		if err := srv.ListenAndServe(); err != nil {
			fmt.Fprintf(os.Stderr, "profserve: pprof listener: %v\n", err)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, []string{"serve"}, config.FromOS(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
