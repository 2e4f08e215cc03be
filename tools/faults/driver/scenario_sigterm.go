package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"rightsdesk/internal/pglocal"
)

func (d *driver) sigterm() row {
	const name = "5. Graceful shutdown (SIGTERM), private PostgreSQL"
	port := d.cfg.basePort + 6
	const workers = 48
	done := fmt.Sprintf("`serve` without DATABASE_URL (private PostgreSQL in its data folder); %d concurrent clients submitting in a closed loop; SIGTERM after 4 s", workers)
	say("%s", name)
	_ = d.sinkCtl("reset")
	env := d.serveEnv(port, "")
	dataDir := filepath.Join(d.cfg.work, "data-"+strconv.Itoa(port))
	p, err := d.startServe(port, env, "s5-serve.log")
	if err != nil {
		return fail(name, done, err)
	}
	defer p.kill()
	pgPID := 0
	// #nosec G304 -- the driver reads the pid file of the cluster it made itself.
	if b, err := os.ReadFile(filepath.Join(dataDir, "postgres", "postmaster.pid")); err == nil {
		pgPID, _ = strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := newClient("s5")
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				c.submit(base)
			}
		}()
	}
	time.Sleep(4 * time.Second)
	termAt := time.Now()
	p.signal(syscall.SIGTERM)
	stop.Store(true) // requests in flight go on; no new ones
	exited := p.wait(60 * time.Second)
	exitIn := time.Since(termAt)
	wg.Wait()
	if !exited {
		return fail(name, done, errors.New("serve did not exit within 60 s of SIGTERM"))
	}
	code := p.exitCode()
	pgAlive := pgPID > 0 && syscall.Kill(pgPID, 0) == nil
	t := c.tally()
	inflight := 0
	c.mu.Lock()
	for _, o := range c.outs {
		if o.code == http.StatusCreated && o.sent.Before(termAt) && o.got.After(termAt) {
			inflight++
		}
	}
	c.mu.Unlock()
	logb, _ := os.ReadFile(p.log)
	logs := string(logb)
	jobsClean := !strings.Contains(logs, "stop job workers") && !strings.Contains(logs, "http shutdown")
	pgStopped := strings.Contains(logs, "private PostgreSQL stopped")

	// Look inside with the same launcher, then stop it again.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := pglocal.Start(ctx, pglocal.Options{DataDir: filepath.Join(dataDir, "postgres"), Logger: d.logger})
	if err != nil {
		return fail(name, done, err)
	}
	dbURL := srv.ConnString("rightsdesk")
	found, miss, err := missing(dbURL, t.refs)
	queued, _ := queryInt(dbURL, `SELECT count(*) FROM emails WHERE state <> 'sent'`)
	runningJobs, _ := queryInt(dbURL, `SELECT count(*) FROM river_job WHERE state = 'running'`)
	_ = srv.Stop(ctx)
	if err != nil {
		return fail(name, done, err)
	}
	r := row{name: name, done: done, subs: t.subs(), db: fmt.Sprintf("%d / %d", found, t.acked), emails: "n/a (not the point; " + strconv.Itoa(queued) + " left queued for the next start)"}
	r.notes = fmt.Sprintf("exit code %d %.1f s after SIGTERM; %d requests in flight at SIGTERM finished with 201; job workers stopped without error: %v (%d jobs left 'running'); log says private PostgreSQL stopped: %v; postmaster pid %d still alive: %v",
		code, exitIn.Seconds(), inflight, jobsClean, runningJobs, pgStopped, pgPID, pgAlive)
	ok := code == 0 && miss == 0 && jobsClean && runningJobs == 0 && pgStopped && !pgAlive && pgPID > 0 && t.acked > 0
	r.verdict = verdict(ok)
	return r
}
