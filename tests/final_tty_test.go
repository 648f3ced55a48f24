package tests

// final_tty_test.go drives run -it and exec -it through a pseudo-terminal
// the test opens itself, as a person at a terminal would: a prompt, job
// control, ^C, the window size, and the exit status.

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"
)

// startOnTerminal starts final with args on term and returns a function
// that waits for it and returns its exit code.
func startOnTerminal(t *testing.T, term *terminal, args ...string) (wait func() int) {
	t.Helper()
	release := hostMounts.share(t)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	cmd := exec.CommandContext(ctx, binary(t, finalStep), args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(cmd.Environ(), "NO_COLOR=1", "TERM=xterm")
	term.command(cmd)
	if err := cmd.Start(); err != nil {
		release()
		cancel()
		t.Fatalf("start final: %v", err)
	}
	done := false
	code := -1
	wait = func() int {
		if done {
			return code
		}
		done = true
		err := cmd.Wait()
		release()
		cancel()
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) {
			t.Errorf("wait for final: %v", err)
		}
		code = cmd.ProcessState.ExitCode()
		return code
	}
	t.Cleanup(func() {
		if !done {
			_ = cmd.Process.Kill()
			wait()
		}
	})
	return wait
}

// TestFinalRunInteractiveTerminal runs an interactive shell with run -it:
// it has the container's own terminal, the host's window size, job
// control (a background job, ^C to the foreground one), and its exit
// status comes back.
func TestFinalRunInteractiveTerminal(t *testing.T) {
	f := newFinal(t)
	term := openTerminal(t, 30, 100)
	wait := startOnTerminal(t, term, f.args("run", "-it", "--rm", "--rootfs", sharedRootfs(t), "sh")...)
	term.expect(t, "# ")
	term.send(t, "tty; stty size; echo TERM=$TERM\r")
	term.expect(t, "/dev/pts/0")
	term.expect(t, "30 100")
	term.expect(t, "TERM=xterm")
	term.send(t, "sleep 4721 &\r")
	term.send(t, "jobs\r")
	term.expect(t, "Running")
	term.send(t, "kill %1; sleep 4722\r")
	waitForArg(t, "4722")
	term.send(t, "\x03") // ^C: the terminal inside sends SIGINT to the foreground job
	term.send(t, "echo after-interrupt $?\r")
	term.expect(t, "after-interrupt 130")
	term.send(t, "exit 5\r")
	if code := wait(); code != 5 {
		t.Errorf("exit %d, want 5; the terminal showed:\n%s", code, term.drain())
	}
	waitGone(t, "4721")
}

// TestFinalExecInteractiveTerminal opens a shell in a running container
// with exec -it, with and without a user namespace.
func TestFinalExecInteractiveTerminal(t *testing.T) {
	for _, userns := range []string{"default", "host"} {
		t.Run("userns "+userns, func(t *testing.T) {
			f := newFinal(t)
			args := []string{"--name", "shell-target", "--rootfs", sharedRootfs(t)}
			if userns == "host" {
				args = append(args, "--userns", "host")
			}
			f.detached(append(args, "sleep", "4723")...)
			term := openTerminal(t, 40, 120)
			wait := startOnTerminal(t, term, f.args("exec", "-it", "shell-target", "sh")...)
			term.expect(t, "# ")
			term.send(t, "tty; stty size; ps -o pid,comm\r")
			term.expect(t, "/dev/pts/")
			term.expect(t, "40 120")
			term.expect(t, "sleep")
			term.send(t, "exit 4\r")
			if code := wait(); code != 4 {
				t.Errorf("exit %d, want 4; the terminal showed:\n%s", code, term.drain())
			}
		})
	}
}

// waitForArg polls until a live process has arg on its command line.
func waitForArg(t testing.TB, arg string) {
	t.Helper()
	deadline := time.Now().Add(runTimeout)
	for time.Now().Before(deadline) {
		if len(processesWithArg(arg)) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no process with %q started", arg)
}
