package main

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"
	"time"
)

func (d *driver) pgRestart() row {
	const name = "2. PostgreSQL restarted under load"
	port := d.cfg.basePort + 2
	const rate, load = 10.0, 30 * time.Second
	const outage = 6 * time.Second
	done := fmt.Sprintf("%.0f/s for %.0f s; at t=8 s PostgreSQL fast shutdown (SIGINT, as pg_ctl -m fast), restarted %.0f s later; /readyz polled every 200 ms", rate, load.Seconds(), outage.Seconds())
	say("%s", name)
	dbURL, err := d.createDB("faults_pg")
	if err != nil {
		return fail(name, done, err)
	}
	_ = d.sinkCtl("reset")
	p, err := d.startServe(port, d.serveEnv(port, dbURL), "s2-serve.log")
	if err != nil {
		return fail(name, done, err)
	}
	defer func() { p.signal(syscall.SIGTERM); p.wait(40 * time.Second) }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	type probe struct {
		at   time.Time
		code int
	}
	var (
		probes []probe
		pmu    sync.Mutex
		stopP  = make(chan struct{})
		pwg    sync.WaitGroup
	)
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		hc := &http.Client{Timeout: 3 * time.Second}
		for {
			select {
			case <-stopP:
				return
			case <-time.After(200 * time.Millisecond):
			}
			code := 0
			if resp, err := hc.Get(base + "/readyz"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				code = resp.StatusCode
			}
			pmu.Lock()
			probes = append(probes, probe{time.Now(), code})
			pmu.Unlock()
		}
	}()
	var downAt, upAt time.Time
	var pgErr error
	go func() {
		time.Sleep(8 * time.Second)
		downAt = time.Now()
		if err := d.stopPG(); err != nil {
			pgErr = err
			return
		}
		time.Sleep(outage)
		if err := d.startPG(); err != nil {
			pgErr = err
		}
		upAt = time.Now()
	}()
	c := newClient("s2")
	c.rate(rate, load, func(int) string { return base })
	time.Sleep(2 * time.Second)
	close(stopP)
	pwg.Wait()
	if pgErr != nil {
		return fail(name, done, pgErr)
	}
	t := c.tally()
	found, miss, err := missing(dbURL, t.refs)
	if err != nil {
		return fail(name, done, err)
	}
	// Submissions that failed but were stored anyway are allowed (the client
	// saw an error); count them for the record.
	errored := t.sent - t.acked
	n503, firstBad, lastBad, okAfter := 0, time.Time{}, time.Time{}, false
	for _, pr := range probes {
		if pr.code != http.StatusOK {
			if firstBad.IsZero() {
				firstBad = pr.at
			}
			lastBad = pr.at
			if pr.code == http.StatusServiceUnavailable {
				n503++
			}
		} else if !upAt.IsZero() && pr.at.After(upAt) {
			okAfter = true
		}
	}
	m, waited, err := d.waitMail(dbURL, 60*time.Second)
	if err != nil {
		return fail(name, done, err)
	}
	r := row{name: name, done: done, subs: t.subs(), db: fmt.Sprintf("%d / %d", found, t.acked), emails: m.String()}
	alive := true
	select {
	case <-p.done:
		alive = false
	default:
	}
	detail := "no 503 seen"
	if !firstBad.IsZero() {
		detail = fmt.Sprintf("/readyz not 200 from %+.1f s to %+.1f s after the shutdown (%d answers 503; PostgreSQL accepting again at %+.1f s), 200 on every probe after",
			firstBad.Sub(downAt).Seconds(), lastBad.Sub(downAt).Seconds(), n503, upAt.Sub(downAt).Seconds())
	}
	r.notes = fmt.Sprintf("%s; server process kept running: %v; %d submissions got an error during the outage (none of them is required in the DB); emails all delivered %.0f s after the load", detail, alive, errored, waited.Seconds())
	ok := miss == 0 && n503 > 0 && okAfter && alive && m.missing == 0 && m.dups == 0 && m.extra == 0 && t.acked > 0
	r.verdict = verdict(ok)
	return r
}
