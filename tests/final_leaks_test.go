package tests

// final_leaks_test.go checks that final leaves nothing behind: after a
// container succeeds, after it fails, after its setup fails, and after the
// runtime itself is killed with SIGKILL (then cleanup finds the rest). The
// kernel is asked: the host's mount table, the processes in /proc, and
// the state directory.

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestFinalLeavesNothingBehind runs containers that end in different ways
// and compares the host before and after.
func TestFinalLeavesNothingBehind(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
	}{
		// The numbers mark the container's processes ($0 of sh).
		{"success", []string{"sh", "-c", "echo fine", "4731"}, 0},
		{"command fails", []string{"sh", "-c", "exit 3", "4732"}, 3},
		{"command not found inside", []string{"/bin/no-such-command-4733"}, 127},
		{"killed inside", []string{"sh", "-c", "kill -9 $$", "4734"}, 137},
		{"orphans left running", []string{"sh", "-c", "sleep 4735 & sleep 4735 & echo started"}, 0},
		{"volume mount point is a symlink", []string{"-v", "/etc:/link/in", "true"}, 125},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFinal(t)
			rootfs := rootfsCopy(t)
			if err := os.Symlink("/", rootfs+"/link"); err != nil {
				t.Fatal(err)
			}
			holdHostMounts(t)
			before := hostMountinfo(t)
			r := f.box(append([]string{"run", "--rm", "--rootfs", rootfs}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s", r.code, tt.wantCode, r)
			}
			if tt.wantCode == 125 && len(nonEmptyLines(r.stderr)) != 1 {
				t.Errorf("setup failure: want one line on stderr, got:\n%s", r.stderr)
			}
			if diff := cmp.Diff(before, hostMountinfo(t)); diff != "" {
				t.Errorf("host mountinfo changed (-before +after):\n%s", diff)
			}
			for _, marker := range []string{"4731", "4732", "4734", "4735"} {
				waitGone(t, marker)
			}
			if dirs := f.containerDirs(); len(dirs) != 0 {
				t.Errorf("state left behind: %v", dirs)
			}
		})
	}
}

// rawStart starts final with exactly args, and returns it with a reader of
// its stdout; Cleanup kills it if the test did not.
func rawStart(t *testing.T, args ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	release := hostMounts.share(t)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	cmd := exec.CommandContext(ctx, binary(t, finalStep), args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		release()
		cancel()
	})
	return cmd, bufio.NewReader(stdout)
}

// TestFinalSurvivesKilledRuntime kills the runtime with SIGKILL, which it
// cannot catch, while its container runs: in the foreground (run) and in
// the background (the monitor of run -d). The container must die with it,
// nothing may stay mounted, and cleanup must find and remove its state.
func TestFinalSurvivesKilledRuntime(t *testing.T) {
	for _, mode := range []string{"foreground", "detached"} {
		t.Run(mode, func(t *testing.T) {
			f := newFinal(t)
			rootfs := sharedRootfs(t)
			holdHostMounts(t)
			before := hostMountinfo(t)
			marker := map[string]string{"foreground": "4741", "detached": "4742"}[mode]
			var victim int
			if mode == "foreground" {
				cmd, stdout := rawStart(t, f.args("run", "--name", "victim", "--rootfs", rootfs, "sh", "-c", "echo ready; sleep "+marker)...)
				if line, err := stdout.ReadString('\n'); err != nil || line != "ready\n" {
					t.Fatalf("container did not start: %q, %v", line, err)
				}
				victim = cmd.Process.Pid
			} else {
				f.mustBox("run", "-d", "--name", "victim", "--rootfs", rootfs, "sleep", marker)
				waitForArg(t, marker)
				victim = supervisorOf(t, f, "victim")
			}
			if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitGone(t, marker)
			ps := f.mustBox("ps", "-a")
			if !strings.Contains(ps.stdout, "dead") {
				t.Errorf("ps -a does not show the abandoned container as dead:\n%s", ps.stdout)
			}
			r := f.mustBox("cleanup")
			if !strings.Contains(r.stdout, "removed victim") {
				t.Errorf("cleanup did not report removing victim:\n%s", r)
			}
			if dirs := f.containerDirs(); len(dirs) != 0 {
				t.Errorf("state left after cleanup: %v", dirs)
			}
			if diff := cmp.Diff(before, hostMountinfo(t)); diff != "" {
				t.Errorf("host mountinfo changed (-before +after):\n%s", diff)
			}
			if r := f.mustBox("cleanup"); !strings.Contains(r.stdout, "nothing to clean up") {
				t.Errorf("a second cleanup found more:\n%s", r)
			}
		})
	}
}

// supervisorOf reads the supervisor's pid from the container's state.
func supervisorOf(t *testing.T, f *finalEnv, name string) int {
	t.Helper()
	for _, dir := range f.containerDirs() {
		b, err := os.ReadFile(f.state + "/containers/" + dir + "/state.json")
		if err != nil {
			continue
		}
		var st struct {
			Name       string `json:"name"`
			Supervisor int    `json:"supervisor"`
		}
		if jsonUnmarshal(b, &st) == nil && st.Name == name && st.Supervisor > 0 {
			return st.Supervisor
		}
	}
	t.Fatalf("no supervisor recorded for %s", name)
	return 0
}
