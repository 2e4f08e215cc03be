// Command smtpsink is the SMTP server of scripts/faults: it accepts every
// message on a loopback address, records its Message-ID, and can be told to
// stop and start listening, like a mail relay going down and coming back.
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
//	             scripts/bench's delivery latency and throughput
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/mail"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

type sink struct {
	addr string

	mu       sync.Mutex
	server   *smtp.Server
	listener net.Listener
	ids      map[string]int
	received int
	arrivals []arrival
	gate     chan struct{} // non-nil while held; closed by release
	released int64         // Unix ns of the last release
}

type arrival struct {
	ID   string   `json:"id"`
	Rcpt []string `json:"rcpt"`
	NS   int64    `json:"ns"`
}

// heldListener delays handing connections to the SMTP server while the sink
// is held: the peer is connected and waits for the greeting.
type heldListener struct {
	net.Listener
	sink *sink
}

func (l heldListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.sink.mu.Lock()
	gate := l.sink.gate
	l.sink.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return c, nil
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
	s := &sink{addr: *smtpAddr, ids: map[string]int{}}
	if err := s.up(); err != nil {
		fmt.Fprintln(os.Stderr, "smtpsink:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /down", func(w http.ResponseWriter, _ *http.Request) { s.down(); fmt.Fprintln(w, "down") })
	mux.HandleFunc("POST /up", func(w http.ResponseWriter, _ *http.Request) {
		var err error
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if err = s.up(); err == nil {
				fmt.Fprintln(w, "up")
				return
			}
		}
		http.Error(w, err.Error(), http.StatusInternalServerError)
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		s.ids, s.received, s.arrivals = map[string]int{}, 0, nil
		s.mu.Unlock()
		fmt.Fprintln(w, "reset")
	})
	mux.HandleFunc("POST /hold", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		if s.gate == nil {
			s.gate = make(chan struct{})
		}
		s.mu.Unlock()
		fmt.Fprintln(w, "held")
	})
	mux.HandleFunc("POST /release", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		if s.gate != nil {
			close(s.gate)
			s.gate = nil
		}
		s.released = time.Now().UnixNano()
		s.mu.Unlock()
		fmt.Fprintln(w, "released")
	})
	mux.HandleFunc("GET /arrivals", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		b, err := json.Marshal(struct {
			Released int64     `json:"released_ns"`
			Arrivals []arrival `json:"arrivals"`
		}{s.released, s.arrivals})
		s.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /ids", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		out := struct {
			Up       bool           `json:"up"`
			Received int            `json:"received"`
			IDs      map[string]int `json:"ids"`
		}{s.server != nil, s.received, s.ids}
		b, err := json.Marshal(out)
		s.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
	hs := &http.Server{Addr: *control, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(hs.ListenAndServe())
}

func (s *sink) up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.server != nil {
		return nil
	}
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{sink: s}, nil }))
	srv.Domain = "faults.local"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 50
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.server, s.listener = srv, l
	go func() { _ = srv.Serve(heldListener{l, s}) }()
	return nil
}

func (s *sink) down() {
	s.mu.Lock()
	srv, l := s.server, s.listener
	s.server, s.listener = nil, nil
	s.mu.Unlock()
	if srv != nil {
		_ = l.Close()
		_ = srv.Close()
	}
}

func (s *sink) record(id string, rcpt []string) {
	now := time.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[id]++
	s.received++
	s.arrivals = append(s.arrivals, arrival{ID: id, Rcpt: rcpt, NS: now})
}

type session struct {
	sink *sink
	rcpt []string
}

// Mail waits while the sink is held: a sender that keeps its connections
// open between messages is held like one that opens a new one.
func (ss *session) Mail(string, *smtp.MailOptions) error {
	ss.sink.mu.Lock()
	gate := ss.sink.gate
	ss.sink.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return nil
}
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.rcpt = append(ss.rcpt, to)
	return nil
}
func (ss *session) Reset()     { ss.rcpt = nil }
func (*session) Logout() error { return nil }

func (ss *session) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "unparsable message"}
	}
	_, _ = io.Copy(io.Discard, m.Body)
	id := strings.Trim(strings.TrimSpace(m.Header.Get("Message-Id")), "<>")
	if id == "" {
		return errors.New("no Message-ID")
	}
	ss.sink.record(id, ss.rcpt)
	return nil
}
