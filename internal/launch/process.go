package launch

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// Process is a server started by Start: our child, in a process group of
// its own, sent DeathSignal (on Linux) if we die without stopping it.
type Process struct {
	name    string
	pid     int
	exited  chan struct{} // closed when the child has exited and been reaped
	waitErr error         // the child's exit status, set before exited is closed
}

// Options say how Start runs a server.
type Options struct {
	// Account is who the server runs as; nil: ourselves.
	Account *Account
	// DeathSignal is sent to the server when we die (Linux only): the
	// server's own clean shutdown, so that it never outlives a killed
	// launcher. Zero: none.
	DeathSignal syscall.Signal
}

// Start runs cmd (its Path, Args, Dir, Env and output as the caller set
// them) as a server. Its own process group keeps a terminal's Ctrl-C away
// from the server, so that the launcher can stop it after the work it
// serves.
func Start(cmd *exec.Cmd, opts Options) (*Process, error) {
	cmd.SysProcAttr = serverProcAttr(opts.Account.Credential(), opts.DeathSignal)
	p := &Process{name: filepath.Base(cmd.Path), exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that forked the child ends, not
		// the process: this goroutine keeps its thread until the child
		// exits, which ties the signal to our process's death only.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("run %s: %w", cmd.Path, err)
	}
	p.pid = cmd.Process.Pid
	return p, nil
}

// PID is the server's process ID, which is also its process group's.
func (p *Process) PID() int { return p.pid }

// Exited is closed once the server has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// HasExited tells whether the server has exited.
func (p *Process) HasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// ExitErr is how the server exited (nil: status 0); nil while it runs.
func (p *Process) ExitErr() error {
	if !p.HasExited() {
		return nil
	}
	return p.waitErr
}

// WaitReady calls probe every interval until it succeeds, the server
// exits, or ctx ends; the error says which, with probe's last error.
func (p *Process) WaitReady(ctx context.Context, interval time.Duration, probe func(context.Context) error) error {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var last error
	for {
		if p.HasExited() {
			return fmt.Errorf("%s exited while starting: %v", p.name, p.waitErr)
		}
		if last = probe(ctx); last == nil {
			return nil
		}
		select {
		case <-p.exited:
		case <-ctx.Done():
			return fmt.Errorf("%s did not become ready: %w (last attempt: %v)", p.name, ctx.Err(), last)
		case <-ticker.C:
		}
	}
}

// A Step of a shutdown: Signal, sent to the server or, with Group, to its
// whole process group (the services it started too), then a wait of up
// to Wait for it to exit.
type Step struct {
	Signal syscall.Signal
	Group  bool
	Wait   time.Duration
}

// ErrStillRunning: the server outlived every step of Stop.
var ErrStillRunning = errors.New("still runs after the last signal")

// Stop takes the steps in turn until the server has exited and says how
// many signals it took: 1 when the first was enough, 0 when it had exited
// already. The first step is the polite one: a cancelled ctx cuts its
// wait short; the later ones are the escalation and wait their full
// time. A server that has exited is sent nothing more: its PID may
// belong to another process by then.
func (p *Process) Stop(ctx context.Context, steps ...Step) (int, error) {
	for i, step := range steps {
		if p.HasExited() {
			return i, nil
		}
		target := p.pid
		if step.Group {
			target = -p.pid
		}
		if err := syscall.Kill(target, step.Signal); err != nil && !errors.Is(err, syscall.ESRCH) {
			return i, fmt.Errorf("stop %s (pid %d) with %v: %w", p.name, p.pid, step.Signal, err)
		}
		cut := ctx.Done()
		if i > 0 {
			cut = nil
		}
		timer := time.NewTimer(step.Wait)
		select {
		case <-p.exited:
			timer.Stop()
			return i + 1, nil
		case <-timer.C:
		case <-cut:
			timer.Stop()
		}
	}
	if p.HasExited() {
		return len(steps), nil
	}
	return len(steps), fmt.Errorf("%s (pid %d) %w", p.name, p.pid, ErrStillRunning)
}

// KillGroup sends SIGKILL to what is left of the server's process group:
// the services a master started, which may outlive it. A group that is
// gone already is no error.
func (p *Process) KillGroup() error {
	if err := syscall.Kill(-p.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill the process group of %s (pid %d): %w", p.name, p.pid, err)
	}
	return nil
}
