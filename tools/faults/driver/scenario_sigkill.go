package main

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"
)

// kill is one SIGKILL of scenario 3 and what it left behind.
type kill struct {
	ready   time.Time // when the new serve answered /readyz
	took    time.Duration
	running int      // jobs 'running' (orphaned) just after the kill
	orphans []string // Message-IDs of their emails not yet sent
}

// sigkill kills serve twice under load, while the relay holds its answers
// so that deliveries are under way, and starts a new one at once each time.
// The jobs the dead instance had running are orphans: the new instance must
// deliver their emails within a minute of its start (it finds them by the
// dead instance's lock, jobs.Runner), each exactly once.
func (d *driver) sigkill() row {
	const name = "3. Server killed (SIGKILL) under load, restarted"
	port := d.cfg.basePort + 3
	const rate, load = 15.0, 25 * time.Second
	done := fmt.Sprintf("%.0f/s for %.0f s; SIGKILL at t=8 s and at t=16 s, each followed by a new `serve` at once; the SMTP sink holds its answers from 1 s before each kill until just after it, so that deliveries are under way when the process dies", rate, load.Seconds())
	say("%s", name)
	dbURL, err := d.createDB("faults_kill")
	if err != nil {
		return fail(name, done, err)
	}
	_ = d.sinkCtl("reset")
	env := d.serveEnv(port, dbURL)
	p, err := d.startServe(port, env, "s3-serve.log")
	if err != nil {
		return fail(name, done, err)
	}
	var pmu sync.Mutex
	cur := p
	defer func() { pmu.Lock(); cur.signal(syscall.SIGTERM); cur.wait(40 * time.Second); pmu.Unlock() }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var killErr error
	var kills []kill
	go func() {
		for _, at := range []time.Duration{7 * time.Second, 7 * time.Second} {
			time.Sleep(at)
			// The relay stops answering for a moment: the deliveries the
			// instance takes meanwhile are mid-way when it is killed.
			if err := d.sinkCtl("hold"); err != nil {
				killErr = err
				return
			}
			time.Sleep(time.Second)
			pmu.Lock()
			cur.kill()
			// The dead instance's sessions go with it; nothing of theirs was accepted.
			if err := d.sinkCtl("release"); err != nil {
				killErr = err
				pmu.Unlock()
				return
			}
			var k kill
			// Read after the kill: nothing of the dead instance moves any more.
			k.running, _ = queryInt(dbURL, `SELECT count(*) FROM river_job WHERE state = 'running'`)
			k.orphans, _ = queryStrings(dbURL, `SELECT e.message_id FROM river_job j
				CROSS JOIN jsonb_array_elements_text(j.args->'email_ids') x(id)
				JOIN emails e ON e.id = x.id::bigint
				WHERE j.state = 'running' AND e.state <> 'sent'`)
			t0 := time.Now()
			np, err := d.startServe(port, env, "s3-serve.log")
			if err != nil {
				killErr = err
				pmu.Unlock()
				return
			}
			k.ready, k.took = time.Now(), time.Since(t0)
			kills = append(kills, k)
			cur = np
			pmu.Unlock()
		}
	}()
	c := newClient("s3")
	c.rate(rate, load, func(int) string { return base })
	if killErr != nil {
		return fail(name, done, killErr)
	}
	t := c.tally()
	found, miss, err := missing(dbURL, t.refs)
	if err != nil {
		return fail(name, done, err)
	}
	_, waited, err := d.waitMail(dbURL, 90*time.Second)
	if err != nil {
		return fail(name, done, err)
	}
	// Every job settles: none is left 'running' for River's last-resort
	// rescuer (minutes) to find.
	stuck := -1
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if stuck, err = queryInt(dbURL, `SELECT count(*) FROM river_job WHERE state IN ('running', 'available', 'retryable')`); err == nil && stuck == 0 {
			break
		}
	}
	m, err := d.checkMail(dbURL) // counted once everything settled
	if err != nil {
		return fail(name, done, err)
	}
	arrivals, err := d.sinkArrivals()
	if err != nil {
		return fail(name, done, err)
	}
	first := map[string]time.Time{} // first arrival of each Message-ID
	var last time.Time
	for _, a := range arrivals.Arrivals {
		at := time.Unix(0, a.NS)
		if f, ok := first[a.ID]; !ok || at.Before(f) {
			first[a.ID] = at
		}
		if at.After(last) {
			last = at
		}
	}
	var restarts, rescued []string
	orphans, slow, lost := 0, false, 0
	for _, k := range kills {
		restarts = append(restarts, fmt.Sprintf("%.1f s", k.took.Seconds()))
		var latest time.Duration
		for _, id := range k.orphans {
			at, ok := first[strings.Trim(id, "<>")]
			if !ok {
				lost++
				continue
			}
			latest = max(latest, at.Sub(k.ready))
		}
		orphans += len(k.orphans)
		slow = slow || latest >= time.Minute
		rescued = append(rescued, fmt.Sprintf("%d jobs running at the kill, %d of their emails unsent, all delivered %.1f s after the new serve was ready",
			k.running, len(k.orphans), latest.Seconds()))
	}
	sinceRestart := time.Duration(0)
	if len(kills) > 0 && !last.IsZero() {
		sinceRestart = last.Sub(kills[len(kills)-1].ready)
	}
	r := row{name: name, done: done, subs: t.subs(), db: fmt.Sprintf("%d / %d", found, t.acked), emails: m.String()}
	r.notes = fmt.Sprintf("new serve ready after %s; kills: %s; last email delivered %.1f s after the last restart (load went on for %.0f s after it); %d jobs left unsettled; %d duplicate deliveries (same Message-ID twice); %d events with two emails; waited %.0f s for delivery after the load",
		strings.Join(restarts, ", "), strings.Join(rescued, "; "), sinceRestart.Seconds(), load.Seconds()-16, stuck, m.dups, m.dupEvents, waited.Seconds())
	if m.missing > 0 {
		r.notes += fmt.Sprintf("; MISSING message IDs (first): %s", strings.Join(m.missingIDs[:min(3, len(m.missingIDs))], ", "))
	}
	ok := miss == 0 && len(kills) == 2 && m.missing == 0 && m.extra == 0 && m.unsent == 0 && m.dupEvents == 0 &&
		m.dups == 0 && stuck == 0 && lost == 0 && !slow && sinceRestart < time.Minute
	r.verdict = verdict(ok)
	if orphans == 0 {
		r.notes += "; (no email was in flight at either kill: nothing to rescue this time)"
	}
	return r
}
