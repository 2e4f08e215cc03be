// Command smtpsink is the SMTP server of scripts/faults and scripts/bench:
// internal/testkit/smtpd (the tests' own SMTP server) on a loopback
// address, as a process of its own, told what to do over HTTP. It keeps of
// each message its envelope, Message-ID and arrival time.
//
//	smtpsink -smtp 127.0.0.1:2525 -control 127.0.0.1:2526
//
// Control (HTTP on -control, loopback only):
//
//	POST /down   close the SMTP listener and every open session
//	POST /up     listen again on the same address
//	GET  /ids    {"up":bool,"received":N,"ids":{"<message-id>":count,...}}
//	POST /reset  forget what was received
//	POST /hold   keep accepting connections but greet none, and answer no
//	             MAIL FROM on open sessions, until /release (senders wait,
//	             nothing fails: a queue builds up behind them)
//	POST /release  greet the held connections and every new one, and go on
//	             with the held sessions
//	GET  /arrivals {"released_ns":N,"arrivals":[{"id":..,"rcpt":[..],"ns":N},...]}
//	             every message received, with its arrival time (Unix ns), for
//	             scripts/bench's delivery latency and throughput and for the
//	             time scripts/faults' SIGKILL scenario takes to deliver
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"rightsdesk/internal/testkit/smtpd"
)

type arrival struct {
	ID   string   `json:"id"`
	Rcpt []string `json:"rcpt"`
	NS   int64    `json:"ns"`
}

func main() {
	smtpAddr := flag.String("smtp", "127.0.0.1:2525", "SMTP listen address (loopback)")
	control := flag.String("control", "127.0.0.1:2526", "HTTP control address (loopback)")
	flag.Parse()
	for _, a := range []string{*smtpAddr, *control} {
		host, _, err := net.SplitHostPort(a)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			fmt.Fprintf(os.Stderr, "smtpsink: %s: want a loopback address\n", a)
			os.Exit(2)
		}
	}
	s, err := smtpd.Listen(*smtpAddr, smtpd.Options{HeadersOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "smtpsink:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /down", func(w http.ResponseWriter, _ *http.Request) { s.Stop(); fmt.Fprintln(w, "down") })
	mux.HandleFunc("POST /up", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.Start(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "up")
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) { s.Reset(); fmt.Fprintln(w, "reset") })
	mux.HandleFunc("POST /hold", func(w http.ResponseWriter, _ *http.Request) { s.Hold(); fmt.Fprintln(w, "held") })
	mux.HandleFunc("POST /release", func(w http.ResponseWriter, _ *http.Request) { s.Release(); fmt.Fprintln(w, "released") })
	mux.HandleFunc("GET /arrivals", func(w http.ResponseWriter, _ *http.Request) {
		out := struct {
			Released int64     `json:"released_ns"`
			Arrivals []arrival `json:"arrivals"`
		}{Arrivals: []arrival{}}
		if r := s.Released(); !r.IsZero() {
			out.Released = r.UnixNano()
		}
		for _, m := range s.Messages() {
			if m.MessageID != "" {
				out.Arrivals = append(out.Arrivals, arrival{ID: m.MessageID, Rcpt: m.To, NS: m.At.UnixNano()})
			}
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /ids", func(w http.ResponseWriter, _ *http.Request) {
		out := struct {
			Up       bool           `json:"up"`
			Received int            `json:"received"`
			IDs      map[string]int `json:"ids"`
		}{Up: s.Up(), IDs: map[string]int{}}
		for _, m := range s.Messages() {
			if m.MessageID != "" {
				out.IDs[m.MessageID]++
				out.Received++
			}
		}
		writeJSON(w, out)
	})
	hs := &http.Server{Addr: *control, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(hs.ListenAndServe())
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
