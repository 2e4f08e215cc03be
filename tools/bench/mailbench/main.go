// Command mailbench is the email part of scripts/bench, next to the SMTP sink
// (tools/faults/smtpsink) on loopback.
//
// Raw go-mail baseline: -n messages like the portal's (subject, text and
// HTML bodies from files), one SMTP connection per message as the portal's
// sender opens, from -c concurrent senders (the portal's email queue runs 5):
//
//	mailbench send -smtp 127.0.0.1:2525 -n 2000 -c 5 -subject S -text t.txt -html h.html
//
// Delivery latency: match each submission of a load log (load -log: "email
// TAB unix-ns") with the sink's arrival of the message to that address:
//
//	mailbench latency -control 127.0.0.1:2526 -log sub.tsv -wait 15s
//
// Throughput: wait until the sink holds -n messages received after -since
// (Unix ns; 0 = the sink's last release) and print the rate:
//
//	mailbench wait -control 127.0.0.1:2526 -n 2000 -since 0 -timeout 60s
//
// The portal's newest acknowledgement, opened with ENCRYPTION_KEY from the
// database at DATABASE_URL, as the baseline's message (subject, text, html
// files in -out):
//
//	mailbench sample -out DIR
//
// Each prints one line of name=value pairs. Only loopback addresses.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	gomail "github.com/wneessen/go-mail"

	"rightsdesk/internal/keyring"
	"rightsdesk/internal/sealed"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mailbench send|latency|wait|sample [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "send":
		err = send(os.Args[2:])
	case "latency":
		err = latency(os.Args[2:])
	case "wait":
		err = wait(os.Args[2:])
	case "sample":
		err = sample(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailbench:", err)
		os.Exit(1)
	}
}

func loopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s: want a loopback address", addr)
	}
	return nil
}

func send(args []string) error {
	fs := flag.NewFlagSet("send", flag.ExitOnError)
	addr := fs.String("smtp", "127.0.0.1:2525", "SMTP address (loopback)")
	n := fs.Int("n", 2000, "messages")
	c := fs.Int("c", 5, "concurrent senders")
	subject := fs.String("subject", "Bench", "subject")
	textFile := fs.String("text", "", "file with the text/plain body")
	htmlFile := fs.String("html", "", "file with the text/html body (optional)")
	_ = fs.Parse(args)
	if err := loopback(*addr); err != nil {
		return err
	}
	host, portStr, _ := net.SplitHostPort(*addr)
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return err
	}
	text, err := os.ReadFile(*textFile) // #nosec G304 -- a file named by scripts/bench
	if err != nil {
		return err
	}
	var html []byte
	if *htmlFile != "" {
		if html, err = os.ReadFile(*htmlFile); err != nil { // #nosec G304 -- a file named by scripts/bench
			return err
		}
	}
	var (
		next, failed atomic.Int64
		firstErr     error
		mu           sync.Mutex
		wg           sync.WaitGroup
	)
	start := time.Now()
	for w := range max(*c, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(*n) {
					return
				}
				if err := sendOne(host, port, *subject, string(text), string(html), w, i); err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	ok := int64(*n) - failed.Load()
	fmt.Printf("sent=%d errors=%d seconds=%.2f rate=%.1f\n", ok, failed.Load(), secs, float64(ok)/secs)
	if firstErr != nil {
		fmt.Fprintln(os.Stderr, "mailbench: first error:", firstErr)
	}
	return nil
}

// sendOne builds a message like the portal's (UTF-8, quoted-printable,
// text with an HTML alternative) and delivers it over a new connection.
func sendOne(host string, port int, subject, text, html string, worker int, i int64) error {
	msg := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(gomail.EncodingQP), gomail.WithNoDefaultUserAgent())
	if err := msg.From("Bench School <privacy@example.kz>"); err != nil {
		return err
	}
	if err := msg.To(fmt.Sprintf("raw-%d-%d@example.kz", worker, i)); err != nil {
		return err
	}
	msg.Subject(subject)
	msg.SetMessageIDWithValue(fmt.Sprintf("raw-%d-%d.%d@bench.local", worker, i, time.Now().UnixNano()))
	msg.SetDate()
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, text)
	if html != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, html)
	}
	client, err := gomail.NewClient(host, gomail.WithPort(port), gomail.WithTLSPolicy(gomail.NoTLS),
		gomail.WithTimeout(30*time.Second), gomail.WithHELO("bench.local"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return client.DialAndSendWithContext(ctx, msg)
}

type arrivals struct {
	Released int64 `json:"released_ns"`
	Arrivals []struct {
		ID   string   `json:"id"`
		Rcpt []string `json:"rcpt"`
		NS   int64    `json:"ns"`
	} `json:"arrivals"`
}

func fetch(control string) (arrivals, error) {
	var a arrivals
	if err := loopback(control); err != nil {
		return a, err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + control + "/arrivals")
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return a, fmt.Errorf("sink: status %d: %s", resp.StatusCode, b)
	}
	return a, json.NewDecoder(resp.Body).Decode(&a)
}

func latency(args []string) error {
	fs := flag.NewFlagSet("latency", flag.ExitOnError)
	control := fs.String("control", "127.0.0.1:2526", "the sink's control address")
	logFile := fs.String("log", "", "load -log file")
	waitFor := fs.Duration("wait", 15*time.Second, "wait at most this long for every email to arrive")
	_ = fs.Parse(args)
	f, err := os.Open(*logFile) // #nosec G304 -- a file named by scripts/bench
	if err != nil {
		return err
	}
	submitted := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		email, ns, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			continue
		}
		t, err := strconv.ParseInt(ns, 10, 64)
		if err != nil {
			return err
		}
		submitted[strings.ToLower(email)] = t
	}
	_ = f.Close()
	if len(submitted) == 0 {
		return errors.New("no submissions in the log")
	}
	var lat []time.Duration
	deadline := time.Now().Add(*waitFor)
	for {
		a, err := fetch(*control)
		if err != nil {
			return err
		}
		lat = lat[:0]
		for _, m := range a.Arrivals {
			for _, r := range m.Rcpt {
				if t, ok := submitted[strings.ToLower(strings.Trim(r, "<>"))]; ok {
					lat = append(lat, time.Duration(m.NS-t))
				}
			}
		}
		if len(lat) >= len(submitted) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(int(p*float64(len(lat))), len(lat)-1)].Microseconds()) / 1000
	}
	fmt.Printf("submitted=%d delivered=%d p50_ms=%.0f p95_ms=%.0f p99_ms=%.0f max_ms=%.0f\n",
		len(submitted), len(lat), q(0.50), q(0.95), q(0.99), q(1))
	return nil
}

func wait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	control := fs.String("control", "127.0.0.1:2526", "the sink's control address")
	n := fs.Int("n", 2000, "messages to wait for")
	since := fs.Int64("since", 0, "count from this Unix ns; 0 = the sink's last release")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after this long")
	_ = fs.Parse(args)
	deadline := time.Now().Add(*timeout)
	for {
		a, err := fetch(*control)
		if err != nil {
			return err
		}
		from := *since
		if from == 0 {
			from = a.Released
		}
		count, last := 0, from
		for _, m := range a.Arrivals {
			if m.NS >= from {
				count++
				last = max(last, m.NS)
			}
		}
		if count >= *n || time.Now().After(deadline) {
			secs := float64(last-from) / 1e9
			rate := 0.0
			if secs > 0 {
				rate = float64(count) / secs
			}
			fmt.Printf("delivered=%d seconds=%.2f rate=%.1f\n", count, secs, rate)
			if count < *n {
				return fmt.Errorf("only %d of %d messages arrived within %s", count, *n, *timeout)
			}
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sample writes the newest acknowledgement the portal stored, opened, into
// -out as subject, text and html: stored emails are sealed, so SQL alone
// cannot copy them.
func sample(args []string) error {
	fs := flag.NewFlagSet("sample", flag.ExitOnError)
	out := fs.String("out", ".", "folder for the subject, text and html files")
	_ = fs.Parse(args)
	kr, err := keyring.Parse(os.Getenv("ENCRYPTION_KEY"))
	if err != nil {
		return fmt.Errorf("ENCRYPTION_KEY: %w", err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var doc []byte
	if err := conn.QueryRow(ctx, `SELECT sealed FROM emails WHERE kind = 'acknowledgement' AND sealed IS NOT NULL
		ORDER BY id DESC LIMIT 1`).Scan(&doc); err != nil {
		return fmt.Errorf("the newest acknowledgement: %w", err)
	}
	plain, err := kr.Open(sealed.Email, doc)
	if err != nil {
		return err
	}
	var e sealed.OutboxEmail
	if err := json.Unmarshal(plain, &e); err != nil {
		return fmt.Errorf("decode the acknowledgement: %w", err)
	}
	for name, body := range map[string]string{"subject": e.Subject, "text": e.Text, "html": e.HTML} {
		if err := os.WriteFile(filepath.Join(*out, name), []byte(body), 0o600); err != nil {
			return err
		}
	}
	fmt.Printf("bytes=%d\n", len(e.Text)+len(e.HTML))
	return nil
}
