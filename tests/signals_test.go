package tests

import (
	"strings"
	"syscall"
	"testing"
)

// TestSignals checks what the runtime does with signals: it forwards the
// ones a user sends it to the container, and reports a container killed by
// signal N as 128+N, as a shell does. In a PID namespace the command is
// PID 1, which the kernel shields from signals it has no handler for; the
// trap installs one.
func TestSignals(t *testing.T) {
	requireRoot(t)
	for _, step := range harness.steps {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			t.Run("SIGTERM is forwarded", func(t *testing.T) {
				t.Parallel()
				c := startContainer(t, step, runArgs(sharedRootfs(t), nil, "sh", "-c",
					`trap "exit 42" TERM; echo ready; while true; do sleep 0.1; done`)...)
				c.waitForLine(t, "ready")
				if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				if code := c.wait(t); code != 42 {
					t.Errorf("exit code %d after SIGTERM to the runtime, want 42 from the container's trap; stderr:\n%s", code, c.stderr)
				}
			})
			t.Run("SIGKILL of the container gives 137", func(t *testing.T) {
				t.Parallel()
				c := startContainer(t, step, runArgs(sharedRootfs(t), nil, "sleep", "100")...)
				pid := c.waitForProcess(t, "sleep")
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				if code := c.wait(t); code != 128+int(syscall.SIGKILL) {
					t.Errorf("exit code %d after SIGKILL of the container's process, want %d; stderr:\n%s",
						code, 128+int(syscall.SIGKILL), strings.TrimSpace(c.stderr.String()))
				}
			})
		})
	}
}
