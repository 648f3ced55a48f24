package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Features of the PID namespace: the command is PID 1, and the host's
// processes can neither be seen nor signalled from inside.

func init() {
	addFeatures(
		feature{name: "command is PID 1", since: "02-pid-ns", check: commandIsPID1},
		feature{name: "host PIDs invisible in /proc", since: "02-pid-ns", check: hostPIDsInvisible},
		feature{name: "ps shows only the container", since: "02-pid-ns", check: psShowsOnlyContainer},
		feature{name: "host processes cannot be signalled", since: "02-pid-ns", check: hostProcessesUnsignalled},
	)
}

// withProc wraps a shell script so it has a /proc: a step that does not
// mount one gets it mounted by the script and unmounted after. Without a
// mount namespace that mount is on the host, so run it on a rootfsCopy.
func withProc(script string) string {
	return `m=; [ -e /proc/self ] || { mount -t proc proc /proc && m=1; }; ` + script +
		`; s=$?; [ -z "$m" ] || umount /proc; exit $s`
}

// commandIsPID1 asks the shell for its own pid, $$.
func commandIsPID1(t *testing.T, step string) bool {
	r := runIn(t, step, sharedRootfs(t), "sh", "-c", "echo $$")
	if r.code != 0 {
		t.Fatalf("container did not run:\n%s", r)
	}
	t.Logf("$$ inside is %s", strings.TrimSpace(r.stdout))
	return strings.TrimSpace(r.stdout) == "1"
}

// hostPIDsInvisible lists /proc inside: the test's own pid must not be
// there, and the PID namespace must not be the host's.
func hostPIDsInvisible(t *testing.T, step string) bool {
	rootfs := rootfsCopy(t)
	r := runIn(t, step, rootfs, "sh", "-c", withProc("readlink /proc/self/ns/pid; ls /proc 2>/dev/null; true"))
	if r.code != 0 {
		t.Fatalf("container did not run:\n%s", r)
	}
	hostNS, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(r.stdout)
	if len(fields) == 0 {
		t.Fatalf("no output:\n%s", r)
	}
	ns, pids := fields[0], 0
	if !strings.HasPrefix(ns, "pid:[") {
		t.Fatalf("no PID namespace in the output:\n%s", r)
	}
	seesTest := false
	for _, f := range fields[1:] {
		if _, err := strconv.Atoi(f); err == nil {
			pids++
			seesTest = seesTest || f == strconv.Itoa(os.Getpid())
		}
	}
	t.Logf("inside: %s (host %s), %d pids, test's pid %d visible: %v", ns, hostNS, pids, os.Getpid(), seesTest)
	return ns != hostNS && !seesTest
}

// psShowsOnlyContainer runs ps inside: neither this test nor the runtime,
// both host processes that run all along, may show up.
func psShowsOnlyContainer(t *testing.T, step string) bool {
	rootfs := rootfsCopy(t)
	r := runIn(t, step, rootfs, "sh", "-c", withProc("ps -o pid,comm"))
	if r.code != 0 {
		t.Fatalf("container did not run:\n%s", r)
	}
	lines := nonEmptyLines(r.stdout)
	if len(lines) < 2 {
		t.Fatalf("ps printed no processes:\n%s", r)
	}
	self, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	// The kernel keeps the first 15 bytes of a command name (TASK_COMM_LEN).
	host := map[string]bool{strings.TrimSpace(string(self)): true}
	if runtime := filepath.Base(binary(t, step)); len(runtime) > 15 {
		host[runtime[:15]] = true
	} else {
		host[runtime] = true
	}
	var seen []string
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) >= 2 && host[f[1]] {
			seen = append(seen, f[1])
		}
	}
	t.Logf("ps lists %d processes; host processes among them: %v", len(lines)-1, seen)
	return len(seen) == 0
}

// hostProcessesUnsignalled starts a sleep on the host and tries kill -9
// on its pid from inside; kill's status is the kernel's answer, and the
// sleep dying (or not) confirms it.
func hostProcessesUnsignalled(t *testing.T, step string) bool {
	sleep := exec.Command("sleep", "1000")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- sleep.Wait() }()
	t.Cleanup(func() {
		_ = sleep.Process.Kill()
		<-waited
	})
	pid := strconv.Itoa(sleep.Process.Pid)
	r := runIn(t, step, sharedRootfs(t), "sh", "-c", "kill -9 "+pid+"; echo $?")
	if r.code != 0 {
		t.Fatalf("container did not run:\n%s", r)
	}
	if strings.TrimSpace(r.stdout) != "0" {
		if !alive(sleep.Process.Pid) {
			t.Fatalf("kill inside failed (%s), yet the host's sleep died", strings.TrimSpace(r.stderr))
		}
		t.Logf("kill %s inside: %s", pid, strings.TrimSpace(r.stderr))
		return true
	}
	// kill(2) succeeded: SIGKILL cannot be caught, so the sleep dies; wait
	// for that rather than guess when.
	select {
	case <-waited:
		waited <- nil // for Cleanup
	case <-time.After(runTimeout):
		t.Fatalf("kill -9 %s inside returned 0, but the host's sleep is still alive", pid)
	}
	t.Logf("kill -9 %s inside killed the host's sleep", pid)
	return false
}
