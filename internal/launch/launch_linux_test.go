package launch

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAServerDiesWithTheLauncherThatStartedIt(t *testing.T) {
	launcher := exec.Command(os.Args[0]) // #nosec G204 -- this test binary, as the helper launcher
	launcher.Env = append(os.Environ(), helperEnv+"=1")
	out, err := launcher.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	launcher.Stderr = os.Stderr
	if err := launcher.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = launcher.Process.Kill()
		t.Fatalf("the helper launcher printed no PID: %v", err)
	}
	server, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || !ProcessAlive(server) {
		t.Fatalf("server %q (%v) is not running", line, err)
	}
	// As when a test run is killed: no Stop, no clean-up of its own.
	if err := launcher.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = launcher.Wait() // killed, as intended
	if !gone(server, 10*time.Second) {
		_ = (&os.Process{Pid: server}).Kill()
		t.Fatalf("server %d outlived its killed launcher", server)
	}
}
