// Command driver runs the fault scenarios of scripts/faults against real
// processes on this machine: the rightsdesk binary, a PostgreSQL cluster it
// starts itself (internal/pglocal, Unix socket), and the SMTP sink
// (tools/faults/smtpsink). It prints one Markdown table row per scenario
// and writes the table to -out.
//
//	driver -bin bin/faults-rightsdesk -sink bin/faults-smtpsink -work /tmp/x -out table.md
//
// Everything listens on 127.0.0.1; every scenario is bounded in time.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"rightsdesk/internal/pglocal"
)

type config struct {
	bin, sink, work, out string
	only                 map[string]bool
	basePort             int
}

type row struct {
	name, done, subs, db, emails, verdict, notes string
}

type driver struct {
	cfg    config
	pg     *pglocal.Server
	pgDir  string
	logger *slog.Logger
	sinkP  *proc
	smtp   string // host:port of the sink
	ctl    string // control base URL of the sink
	rows   []row
}

func main() {
	var c config
	var only string
	flag.StringVar(&c.bin, "bin", "bin/faults-rightsdesk", "the rightsdesk binary")
	flag.StringVar(&c.sink, "sink", "bin/faults-smtpsink", "the SMTP sink binary")
	flag.StringVar(&c.work, "work", "", "work folder (required; must be enterable by the postgres user when root)")
	flag.StringVar(&c.out, "out", "", "write the Markdown table here too")
	flag.StringVar(&only, "only", "1,2,3,4,5", "scenarios to run")
	flag.IntVar(&c.basePort, "port", 19080, "first port of the range used on 127.0.0.1")
	flag.Parse()
	if c.work == "" {
		fmt.Fprintln(os.Stderr, "driver: -work is required")
		os.Exit(2)
	}
	c.only = map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		c.only[strings.TrimSpace(s)] = true
	}
	d := &driver{cfg: c, logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	code := d.run()
	os.Exit(code)
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "==> "+format+"\n", args...)
}

func (d *driver) run() int {
	defer d.cleanup()
	if err := d.startShared(); err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		return 1
	}
	scenarios := []struct {
		id string
		fn func() row
	}{
		{"1", d.smtpDown}, {"2", d.pgRestart}, {"3", d.sigkill}, {"4", d.twoInstances}, {"5", d.sigterm},
	}
	for _, s := range scenarios {
		if !d.cfg.only[s.id] {
			continue
		}
		start := time.Now()
		r := s.fn()
		r.notes += fmt.Sprintf(" (%.0f s)", time.Since(start).Seconds())
		say("%s: %s — %s", r.name, r.verdict, r.notes)
		d.rows = append(d.rows, r)
	}
	table := d.table()
	fmt.Println(table)
	if d.cfg.out != "" {
		if err := os.WriteFile(d.cfg.out, []byte(table+"\n"), 0o644); err != nil { // #nosec G306 -- a report
			fmt.Fprintln(os.Stderr, "driver:", err)
			return 1
		}
	}
	for _, r := range d.rows {
		if !strings.HasPrefix(r.verdict, "PASS") {
			return 1
		}
	}
	return 0
}

func (d *driver) table() string {
	var b strings.Builder
	b.WriteString("| # | scenario | what was done | submissions sent / 201 | acknowledged found in DB | emails expected / received / duplicates | verdict | why |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for i, r := range d.rows {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | **%s** | %s |\n", i+1, r.name, r.done, r.subs, r.db, r.emails, r.verdict, strings.TrimSpace(r.notes))
	}
	return strings.TrimRight(b.String(), "\n")
}
