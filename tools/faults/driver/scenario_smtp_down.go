package main

import (
	"fmt"
	"syscall"
	"time"
)

func (d *driver) smtpDown() row {
	const name = "1. SMTP down during steady submissions"
	port := d.cfg.basePort + 1
	const down, rate, load = 30 * time.Second, 5.0, 45 * time.Second
	done := fmt.Sprintf("%.0f/s to the API for %.0f s; SMTP sink down from t=5 s for %.0f s (listener closed); then wait for delivery", rate, load.Seconds(), down.Seconds())
	say("%s", name)
	dbURL, err := d.createDB("faults_smtp")
	if err != nil {
		return fail(name, done, err)
	}
	_ = d.sinkCtl("reset")
	p, err := d.startServe(port, d.serveEnv(port, dbURL), "s1-serve.log")
	if err != nil {
		return fail(name, done, err)
	}
	defer func() { p.signal(syscall.SIGTERM); p.wait(40 * time.Second) }()
	c := newClient("s1")
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var sinkErr error
	go func() {
		time.Sleep(5 * time.Second)
		sinkErr = d.sinkCtl("down")
		time.Sleep(down)
		if err := d.sinkCtl("up"); err != nil {
			sinkErr = err
		}
	}()
	c.rate(rate, load, func(int) string { return base })
	t := c.tally()
	time.Sleep(time.Second)
	retrying, _ := queryInt(dbURL, `SELECT count(*) FROM river_job WHERE kind = 'deliver_email' AND state IN ('retryable','available','running')`)
	maxAttempt, _ := queryInt(dbURL, `SELECT coalesce(max(attempts), 0) FROM emails`)
	found, miss, err := missing(dbURL, t.refs)
	if err != nil {
		return fail(name, done, err)
	}
	m, waited, err := d.waitMail(dbURL, 90*time.Second)
	if err != nil {
		return fail(name, done, err)
	}
	r := row{name: name, done: done, subs: t.subs(), db: fmt.Sprintf("%d / %d", found, t.acked), emails: m.String()}
	r.notes = fmt.Sprintf("at the end of the load %d delivery jobs were still waiting, up to %d attempts per email; all delivered %.0f s after the load ended. The retry cap (10 min in production) has no setting; the 30 s outage keeps the backoff (1, 2, 4, … s) under a minute.", retrying, maxAttempt, waited.Seconds())
	ok := sinkErr == nil && miss == 0 && t.acked == t.sent && m.missing == 0 && m.dups == 0 && m.extra == 0 && m.unsent == 0 && m.expected >= 2*found
	if sinkErr != nil {
		r.notes += " sink control error: " + sinkErr.Error()
	}
	r.verdict = verdict(ok)
	return r
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}
