package tests

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStopEscalates checks that a runtime whose container's PID 1 ignores
// the forwarded SIGTERM (sleep has no handler, and the kernel shields a
// PID 1 from signals it has no handler for) still stops, as docker stop
// does: SIGKILL at a second signal, or when the grace period ends. Step
// 01 has no PID namespace, so its sleep dies of the first SIGTERM.
func TestStopEscalates(t *testing.T) {
	requireRoot(t)
	for _, step := range numberedSteps() {
		if step < "02" {
			continue
		}
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			t.Run("a second signal kills", func(t *testing.T) {
				t.Parallel()
				c := startContainer(t, step, runArgs(sharedRootfs(t), nil, "sleep", "1000")...)
				c.waitForProcess(t, "sleep")
				// Go may merge two signals that arrive before its handler
				// ran, so keep sending until the runtime has gone.
				done := make(chan int)
				go func() { done <- c.wait(t) }()
				var code int
			loop:
				for {
					_ = c.cmd.Process.Signal(syscall.SIGTERM)
					select {
					case code = <-done:
						break loop
					case <-time.After(200 * time.Millisecond):
					}
				}
				if code != 128+int(syscall.SIGKILL) || !strings.Contains(c.stderr.String(), "killing the container with SIGKILL") {
					t.Errorf("exit code %d after SIGTERMs, want 137, and a line saying the container was killed; stderr:\n%s", code, c.stderr)
				}
			})
			t.Run("the grace period ends in SIGKILL", func(t *testing.T) {
				t.Parallel()
				c := startContainer(t, step, runArgs(sharedRootfs(t), nil, "sleep", "1000")...)
				c.waitForProcess(t, "sleep")
				if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				if code := c.wait(t); code != 128+int(syscall.SIGKILL) || !strings.Contains(c.stderr.String(), "still running 10s after the signal") {
					t.Errorf("exit code %d after one SIGTERM, want 137 once the grace period ended, and a line saying so; stderr:\n%s", code, c.stderr)
				}
			})
		})
	}
}
