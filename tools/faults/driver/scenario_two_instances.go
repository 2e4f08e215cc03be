package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

func (d *driver) twoInstances() row {
	const name = "4. Two instances on one database"
	pa, pb := d.cfg.basePort+4, d.cfg.basePort+5
	const rate, load = 10.0, 20 * time.Second
	done := fmt.Sprintf("A (VERIFY_EMAIL=true, CONFIRM_LINK_TTL=2s) and B (VERIFY_EMAIL=false) share one DB, REMINDER_INTERVAL=1s, REMINDER_THRESHOLDS=60; %.0f/s alternating A/B for %.0f s; 2× `reminders run` and 4 extra `expire_unconfirmed` jobs during the load; both restarted together at the end (expiry runs at start); staff signs in on A, cookie reused on B", rate, load.Seconds())
	say("%s", name)
	dbURL, err := d.createDB("faults_two")
	if err != nil {
		return fail(name, done, err)
	}
	_ = d.sinkCtl("reset")
	common := []string{"CONFIRM_LINK_TTL=2s", "REMINDER_INTERVAL=1s", "REMINDER_THRESHOLDS=60"}
	envA := d.serveEnv(pa, dbURL, append(common, "VERIFY_EMAIL=true")...)
	envB := d.serveEnv(pb, dbURL, append(common, "VERIFY_EMAIL=false")...)
	a, err := d.startServe(pa, envA, "s4-a.log")
	if err != nil {
		return fail(name, done, err)
	}
	b, err := d.startServe(pb, envB, "s4-b.log")
	if err != nil {
		a.kill()
		return fail(name, done, err)
	}
	procs := []*proc{a, b}
	defer func() {
		for _, p := range procs {
			p.signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			p.wait(40 * time.Second)
		}
	}()
	// A staff account, made with the CLI on the shared database.
	pw := "faults-correct-horse-battery-42"
	add := exec.Command(d.cfg.bin, "user", "add", "--email", "officer@example.kz", "--name", "Officer", "--role", "admin") // #nosec G204 -- our binary
	add.Env = d.serveEnv(pa, dbURL)
	add.Stdin = strings.NewReader(pw + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		return fail(name, done, fmt.Errorf("user add: %v: %s", err, out))
	}
	sessionNote, sessionOK := crossSession(pa, pb, "officer@example.kz", pw)

	baseA, baseB := fmt.Sprintf("http://127.0.0.1:%d", pa), fmt.Sprintf("http://127.0.0.1:%d", pb)
	var cliErr error
	go func() {
		time.Sleep(8 * time.Second)
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command(d.cfg.bin, "reminders", "run") // #nosec G204 -- our binary
				cmd.Env = d.serveEnv(pa, dbURL)
				if out, err := cmd.CombinedOutput(); err != nil {
					cliErr = fmt.Errorf("reminders run: %v: %s", err, lastLine(out))
				}
			}()
		}
		wg.Wait()
		for range 4 {
			if _, err := d.exec("faults_two", `INSERT INTO river_job (args, kind, max_attempts, queue, state, priority) VALUES ('{}', 'expire_unconfirmed', 3, 'default', 'available', 1)`); err != nil {
				cliErr = err
			}
		}
	}()
	c := newClient("s4")
	c.rate(rate, load, func(i int) string {
		if i%2 == 0 {
			return baseA
		}
		return baseB
	})
	time.Sleep(3 * time.Second) // past the 2 s confirmation window
	// Restart both together: each may become leader, the leader expires at start.
	for _, p := range procs {
		p.signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		p.wait(40 * time.Second)
	}
	a, err = d.startServe(pa, envA, "s4-a.log")
	if err != nil {
		return fail(name, done, err)
	}
	b, err = d.startServe(pb, envB, "s4-b.log")
	if err != nil {
		procs = []*proc{a}
		return fail(name, done, err)
	}
	procs = []*proc{a, b}
	time.Sleep(5 * time.Second)
	t := c.tally()
	found, miss, err := missing(dbURL, t.refs)
	if err != nil {
		return fail(name, done, err)
	}
	q := func(sql string) int {
		n, qerr := queryInt(dbURL, sql)
		if qerr != nil && err == nil {
			err = qerr
		}
		return n
	}
	unverified := q(`SELECT count(*) FROM requests WHERE status = 'unverified'`)
	expired := q(`SELECT count(DISTINCT request_id) FROM events WHERE kind = 'expired'`)
	expiredTwice := q(`SELECT count(*) FROM (SELECT request_id FROM events WHERE kind = 'expired' GROUP BY 1 HAVING count(*) > 1) x`)
	newReqs := q(`SELECT count(*) FROM requests WHERE status = 'new'`)
	reminded := q(`SELECT count(DISTINCT request_id) FROM events WHERE kind = 'reminded'`)
	remindedTwice := q(`SELECT count(*) FROM (SELECT request_id, data->>'threshold' FROM events WHERE kind = 'reminded' GROUP BY 1, 2 HAVING count(*) > 1) x`)
	expireRuns := q(`SELECT count(*) FROM river_job WHERE kind = 'expire_unconfirmed' AND state = 'completed'`)
	sweeps := q(`SELECT count(*) FROM river_job WHERE kind = 'send_reminders' AND state = 'completed'`)
	if err != nil {
		return fail(name, done, err)
	}
	m, waited, err := d.waitMail(dbURL, 60*time.Second)
	if err != nil {
		return fail(name, done, err)
	}
	r := row{name: name, done: done, subs: t.subs(), db: fmt.Sprintf("%d / %d", found, t.acked), emails: m.String()}
	r.notes = fmt.Sprintf("expired: %d requests (%d twice), %d left unverified; reminded: %d of %d `new` requests (%d twice for one threshold), over %d completed sweeps and 2 CLI runs; %d expiry runs completed; session: %s; emails delivered within %.0f s",
		expired, expiredTwice, unverified, reminded, newReqs, remindedTwice, sweeps, expireRuns, sessionNote, waited.Seconds())
	if cliErr != nil {
		r.notes += "; " + cliErr.Error()
	}
	ok := miss == 0 && cliErr == nil && expiredTwice == 0 && remindedTwice == 0 && unverified == 0 && expired > 0 &&
		reminded == newReqs && reminded > 0 && sessionOK && m.missing == 0 && m.dups == 0 && m.extra == 0
	r.verdict = verdict(ok)
	return r
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

var csrfRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// crossSession signs in on instance A and uses the session cookie on B.
func crossSession(pa, pb int, email, pw string) (string, bool) {
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	baseA, baseB := fmt.Sprintf("http://127.0.0.1:%d", pa), fmt.Sprintf("http://127.0.0.1:%d", pb)
	resp, err := noRedirect.Get(baseA + "/staff/login")
	if err != nil {
		return "GET login on A: " + err.Error(), false
	}
	page, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	mt := csrfRe.FindSubmatch(page)
	if mt == nil {
		return "no CSRF token on A's login page", false
	}
	var cookies []*http.Cookie
	cookies = append(cookies, resp.Cookies()...)
	form := url.Values{"email": {email}, "password": {pw}, "_csrf": {string(mt[1])}}
	req, _ := http.NewRequest(http.MethodPost, baseA+"/staff/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	resp, err = noRedirect.Do(req)
	if err != nil {
		return "POST login on A: " + err.Error(), false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || strings.Contains(resp.Header.Get("Location"), "login") {
		return fmt.Sprintf("sign-in on A answered %d → %q", resp.StatusCode, resp.Header.Get("Location")), false
	}
	session := resp.Cookies()
	get := func(base string, cks []*http.Cookie) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+"/staff", nil)
		for _, ck := range cks {
			req.AddCookie(ck)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	codeB, bodyB := get(baseB, session)
	codeNo, _ := get(baseB, nil)
	ok := codeB == http.StatusOK && strings.Contains(bodyB, "Officer") && codeNo != http.StatusOK
	return fmt.Sprintf("signed in on A (303), GET /staff on B with A's cookie → %d, without → %d", codeB, codeNo), ok
}
