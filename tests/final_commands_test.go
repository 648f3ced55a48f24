package tests

// final_commands_test.go runs every command of the final runtime for real
// and checks the kernel's answer: exit statuses, what the container sees,
// what ps and inspect report against /proc.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestFinalRunForeground checks run's flags and exit statuses.
func TestFinalRunForeground(t *testing.T) {
	f := newFinal(t)
	rootfs := rootfsCopy(t) // -w creates its directory in the rootfs
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		want     string // stdout, trimmed
	}{
		{"true", []string{"true"}, "", 0, ""},
		{"exit status", []string{"sh", "-c", "exit 3"}, "", 3, ""},
		{"killed by a signal is 128+N", []string{"sh", "-c", "kill -9 $$"}, "", 137, ""},
		{"env", []string{"-e", "GREETING=hi there", "sh", "-c", "echo $GREETING; echo $HOME"}, "", 0, "hi there\n/root"},
		{"hostname", []string{"--hostname", "web-1", "hostname"}, "", 0, "web-1"},
		{"workdir", []string{"-w", "/tmp/made", "pwd"}, "", 0, "/tmp/made"},
		{"stdin only with -i", []string{"-i", "cat"}, "typed\n", 0, "typed"},
		{"no stdin without -i", []string{"cat"}, "typed\n", 0, ""},
		{"init is PID 1, the command its child", []string{"sh", "-c", "echo $PPID"}, "", 0, "1"},
		{"--no-init makes the command PID 1", []string{"--no-init", "sh", "-c", "echo $$"}, "", 0, "1"},
		{"root inside", []string{"id", "-u"}, "", 0, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"run", "--rm", "--rootfs", rootfs}, tt.args...)
			r := f.boxWith(runOptions{stdin: tt.stdin}, args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s", r.code, tt.wantCode, r)
			}
			if diff := cmp.Diff(tt.want, strings.TrimSpace(r.stdout)); diff != "" {
				t.Errorf("stdout mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if dirs := f.containerDirs(); len(dirs) != 0 {
		t.Errorf("run --rm left state: %v", dirs)
	}
}

// TestFinalDefaultHostnameIsShortID checks docker's default: the short ID
// names the container and is its hostname; ps and inspect agree.
func TestFinalDefaultHostnameIsShortID(t *testing.T) {
	f := newFinal(t)
	id := f.detached("--rootfs", sharedRootfs(t), "sh", "-c", "hostname; sleep 4711")
	in := f.inspect(id[:12])
	if in.Hostname != id[:12] || in.Name != id[:12] {
		t.Errorf("hostname, name = %q, %q; want the short ID %q", in.Hostname, in.Name, id[:12])
	}
	ps := f.mustBox("ps")
	if !strings.Contains(ps.stdout, id[:12]) || !strings.Contains(ps.stdout, strconv.Itoa(in.Pid)) || !strings.Contains(ps.stdout, "running") {
		t.Errorf("ps does not list %s running with pid %d:\n%s", id[:12], in.Pid, ps.stdout)
	}
	header := strings.Fields(strings.Split(ps.stdout, "\n")[0])
	if diff := cmp.Diff([]string{"NAME", "ID", "PID", "STATUS", "CREATED", "COMMAND"}, header); diff != "" {
		t.Errorf("ps header mismatch (-want +got):\n%s", diff)
	}
}

// TestFinalDetachedLifecycle runs a container in the background and goes
// through logs, inspect, kill, stop, wait, ps -a and rm.
func TestFinalDetachedLifecycle(t *testing.T) {
	f := newFinal(t)
	// The traps come before "started": once the log says it, a signal
	// cannot reach the shell before its handlers are set.
	script := `trap 'echo got USR1' USR1; trap 'echo got TERM; exit 7' TERM; echo started; while :; do sleep 1; done`
	id := f.detached("--name", "life", "--rootfs", sharedRootfs(t), "sh", "-c", script)

	in := f.inspect("life")
	if in.ID != id || in.Status != "running" || in.Pid == 0 {
		t.Fatalf("inspect: %+v", in)
	}
	if got := nsInodes(t, in.Pid); got["pid"] != in.Namespaces["pid"] || got["mnt"] != in.Namespaces["mnt"] {
		t.Errorf("inspect namespaces %v do not match /proc/%d/ns: %v", in.Namespaces, in.Pid, got)
	}
	host := nsInodes(t, os.Getpid())
	for _, name := range []string{"user", "pid", "mnt", "uts", "ipc", "net"} {
		if in.Namespaces[name] == 0 || in.Namespaces[name] == host[name] {
			t.Errorf("namespace %s = %d, want its own (host %d)", name, in.Namespaces[name], host[name])
		}
	}
	f.waitForLog("life", "started")
	f.mustBox("kill", "-s", "USR1", "life")
	f.mustBox("stop", "-t", "30", "life")
	if r := f.mustBox("wait", "life"); strings.TrimSpace(r.stdout) != "7" {
		t.Errorf("wait printed %q, want the exit status 7 (the trap ran)", r.stdout)
	}
	logs := f.mustBox("logs", "life")
	for _, want := range []string{"started", "got USR1", "got TERM"} {
		if !strings.Contains(logs.stdout, want) {
			t.Errorf("logs lack %q:\n%s", want, logs.stdout)
		}
	}
	in = f.inspect(id)
	if in.Status != "exited" || in.ExitCode == nil || *in.ExitCode != 7 {
		t.Errorf("after stop: status %s, exit %v; want exited, 7", in.Status, in.ExitCode)
	}
	if ps := f.mustBox("ps"); strings.Contains(ps.stdout, "life") {
		t.Errorf("ps lists a stopped container:\n%s", ps.stdout)
	}
	if ps := f.mustBox("ps", "-a"); !strings.Contains(ps.stdout, "exited (7)") {
		t.Errorf("ps -a does not show exited (7):\n%s", ps.stdout)
	}
	f.mustBox("rm", "life")
	if dirs := f.containerDirs(); len(dirs) != 0 {
		t.Errorf("rm left state: %v", dirs)
	}
}

// TestFinalStopKillsWhatIgnoresTERM checks stop's second half: a command
// that is PID 1 itself (--no-init) and has no TERM handler ignores the
// SIGTERM, so stop must SIGKILL it after the grace period.
func TestFinalStopKillsWhatIgnoresTERM(t *testing.T) {
	f := newFinal(t)
	f.detached("--name", "stubborn", "--no-init", "--rootfs", sharedRootfs(t), "sleep", "4711")
	f.mustBox("stop", "-t", "1", "stubborn")
	if r := f.mustBox("wait", "stubborn"); strings.TrimSpace(r.stdout) != "137" {
		t.Errorf("exit status %q, want 137 (SIGKILL)", r.stdout)
	}
}

// TestFinalRmForce removes a running container: its processes die.
func TestFinalRmForce(t *testing.T) {
	f := newFinal(t)
	f.detached("--name", "doomed", "--rootfs", sharedRootfs(t), "sleep", "4712")
	if r := f.box("rm", "doomed"); r.code == 0 || !strings.Contains(r.stderr, "rm -f") {
		t.Errorf("rm of a running container: %s", r)
	}
	f.mustBox("rm", "-f", "doomed")
	waitGone(t, "4712")
	if dirs := f.containerDirs(); len(dirs) != 0 {
		t.Errorf("rm -f left state: %v", dirs)
	}
}

// TestFinalExec checks that exec lands in every namespace the container
// has, with the container's restrictions, with and without a user
// namespace (joined through the init, or with setns).
func TestFinalExec(t *testing.T) {
	for _, userns := range []string{"default", "host"} {
		t.Run("userns "+userns, func(t *testing.T) {
			f := newFinal(t)
			args := []string{"--name", "target", "--hostname", "inside", "--rootfs", sharedRootfs(t)}
			if userns == "host" {
				args = append(args, "--userns", "host")
			}
			f.detached(append(args, "sleep", "4713")...)
			in := f.inspect("target")
			script := `for n in user ipc uts net cgroup pid mnt; do readlink /proc/self/ns/$n; done; hostname; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; echo $E; pwd`
			r := f.mustBox("exec", "-e", "E=from-exec", "-w", "/tmp", "target", "sh", "-c", script)
			lines := nonEmptyLines(r.stdout)
			want := []string{}
			for _, n := range []string{"user", "ipc", "uts", "net", "cgroup", "pid", "mnt"} {
				want = append(want, fmt.Sprintf("%s:[%d]", n, nsInodes(t, in.Pid)[n]))
			}
			want = append(want, "inside", "CapEff:\t00000000a80425fb", "NoNewPrivs:\t1", "Seccomp:\t2", "from-exec", "/tmp")
			if diff := cmp.Diff(want, lines); diff != "" {
				t.Errorf("exec's view mismatch (-want +got):\n%s", diff)
			}
			if r := f.box("exec", "target", "sh", "-c", "exit 9"); r.code != 9 {
				t.Errorf("exec exit status %d, want 9", r.code)
			}
			if r := f.boxWith(runOptions{stdin: "piped\n"}, "exec", "-i", "target", "cat"); strings.TrimSpace(r.stdout) != "piped" {
				t.Errorf("exec -i cat printed %q, want piped", r.stdout)
			}
			extra, written := inheritedCanary(t)
			r = f.boxWith(runOptions{extraFiles: extra}, "exec", "target", "sh", "-c", writeInheritedFile)
			if got := written(); got != "" || strings.TrimSpace(r.stdout) != "refused" {
				t.Errorf("exec's command wrote %q to a file the runtime inherited at fd %d (it said %q), want nothing", got, inheritedFileFD, r.stdout)
			}
		})
	}
}

// TestFinalPause pauses through the cgroup freezer, or says plainly that
// this build has no cgroups.
func TestFinalPause(t *testing.T) {
	f := newFinal(t)
	f.detached("--name", "frozen", "--rootfs", sharedRootfs(t), "sleep", "4714")
	r := f.box("pause", "frozen")
	if r.code != 0 {
		if !strings.Contains(r.stderr, "pause needs cgroups") {
			t.Fatalf("pause failed without saying why:\n%s", r)
		}
		return
	}
	if in := f.inspect("frozen"); in.Status != "paused" {
		t.Errorf("after pause: status %s", in.Status)
	}
	f.mustBox("unpause", "frozen")
	if in := f.inspect("frozen"); in.Status != "running" {
		t.Errorf("after unpause: status %s", in.Status)
	}
}

// TestFinalConcurrentRuns starts runs at once that all want one name:
// exactly one gets it, and the others fail cleanly.
func TestFinalConcurrentRuns(t *testing.T) {
	f := newFinal(t)
	rootfs := sharedRootfs(t)
	results := make(chan result, 4)
	for i := 0; i < 4; i++ {
		go func() {
			results <- rawFinal(t, runOptions{}, f.args("run", "-d", "--name", "only", "--rootfs", rootfs, "sleep", "4715")...)
		}()
	}
	ok := 0
	for i := 0; i < 4; i++ {
		r := <-results
		if r.code == 0 {
			ok++
		} else if !strings.Contains(r.stderr, `"only" is taken`) {
			t.Errorf("a losing run failed for another reason:\n%s", r)
		}
	}
	t.Cleanup(func() { f.box("rm", "-f", "only") })
	if ok != 1 {
		t.Errorf("%d runs got the name, want exactly 1", ok)
	}
	if dirs := f.containerDirs(); len(dirs) != 1 {
		t.Errorf("%d container directories, want 1: %v", len(dirs), dirs)
	}
}

// TestFinalVolumesAndReadOnly checks -v (rw and ro) and --read-only on a
// copy of the rootfs (mount points are made in it).
func TestFinalVolumesAndReadOnly(t *testing.T) {
	f := newFinal(t)
	rootfs := rootfsCopy(t)
	rw, ro := hostDir(t, nil), hostDir(t, map[string]string{"kept": "host\n"})
	script := `echo inside > /rw/new && echo rw-ok; echo x > /ro/kept || echo ro-refused; touch /newfile || echo root-refused; echo t > /tmp/t && echo tmp-ok`
	r := f.mustBox("run", "--rm", "--read-only", "-v", rw+":/rw", "-v", ro+":/ro:ro", "--rootfs", rootfs, "sh", "-c", script)
	if diff := cmp.Diff([]string{"rw-ok", "ro-refused", "root-refused", "tmp-ok"}, nonEmptyLines(r.stdout)); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s\n%s", diff, r)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "new")); err != nil || string(b) != "inside\n" {
		t.Errorf("the rw volume on the host holds %q, %v", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(ro, "kept")); string(b) != "host\n" {
		t.Errorf("the ro volume's file changed to %q", b)
	}
}

// TestFinalExplain checks that --explain narrates as the steps do, grouped
// by feature, and that the default is quiet.
func TestFinalExplain(t *testing.T) {
	f := newFinal(t)
	rootfs := sharedRootfs(t)
	quiet := f.mustBox("run", "--rm", "--rootfs", rootfs, "true")
	if quiet.stderr != "" {
		t.Errorf("run without --explain printed on stderr:\n%s", quiet.stderr)
	}
	loud := f.mustBox("--explain", "run", "--rm", "--rootfs", rootfs, "true")
	for _, want := range []string{
		"# user: ", "# uts: ", "# net: ", "# mount: ", "# root: ", "# security: ", "# pid: ",
		`  pivot_root(".", ".") = 0`, `  sethostname(`, `  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) /* on every thread of the process */ = 0`,
		`CLONE_NEWUSER`, `  mount("proc", `,
	} {
		if !strings.Contains(loud.stderr, want) {
			t.Errorf("--explain narration lacks %q:\n%s", want, loud.stderr)
		}
	}
	if loud.stdout != "" {
		t.Errorf("narration reached stdout: %q", loud.stdout)
	}
}

// TestFinalUser runs the command as another user, with and without a user
// namespace and an init: the ids come from the container's /etc/passwd,
// the capabilities are gone, HOME follows; exec runs as the container's
// user unless told otherwise.
func TestFinalUser(t *testing.T) {
	for _, userns := range []string{"default", "host"} {
		t.Run("userns "+userns, func(t *testing.T) {
			f := newFinal(t)
			base := []string{"--rootfs", sharedRootfs(t)}
			if userns == "host" {
				base = append(base, "--userns", "host")
			}
			script := `id; grep -E '^CapEff:' /proc/self/status; echo "HOME=$HOME"`
			for _, tc := range []struct {
				flags []string
				want  string
			}{
				{[]string{"-u", "nobody"}, "uid=65534(nobody) gid=65534(nogroup)\nCapEff:\t0000000000000000\nHOME=/nonexistent"},
				{[]string{"-u", "1000:1000", "--no-init"}, "uid=1000 gid=1000\nCapEff:\t0000000000000000\nHOME=/root"},
				{[]string{"-u", "0:65534"}, "uid=0(root) gid=65534(nogroup)\nCapEff:\t00000000a80425fb\nHOME=/root"},
			} {
				args := append(append(append([]string{"run", "--rm"}, tc.flags...), base...), "sh", "-c", script)
				if r := f.mustBox(args...); strings.TrimSpace(r.stdout) != tc.want {
					t.Errorf("run %v: got %q, want %q", tc.flags, r.stdout, tc.want)
				}
			}
			f.detached(append(append([]string{"--name", "as-nobody", "-u", "nobody"}, base...), "sleep", "4713")...)
			if r := f.mustBox("exec", "as-nobody", "id", "-un"); strings.TrimSpace(r.stdout) != "nobody" {
				t.Errorf("exec into a --user container ran as %q, want nobody", r.stdout)
			}
			if r := f.mustBox("exec", "-u", "root", "as-nobody", "id", "-un"); strings.TrimSpace(r.stdout) != "root" {
				t.Errorf("exec -u root ran as %q, want root", r.stdout)
			}
			if got := f.inspect("as-nobody").User; got != "nobody" {
				t.Errorf("inspect User = %q, want nobody", got)
			}
		})
	}
}

// TestFinalLogsFollow follows a detached container's output: logs -f
// prints what comes after it started and returns when the container exits.
func TestFinalLogsFollow(t *testing.T) {
	f := newFinal(t)
	script := `echo one; trap 'echo two; exit 0' USR1; while :; do sleep 0.1; done`
	f.detached("--name", "talker", "--rootfs", sharedRootfs(t), "sh", "-c", script)
	follow := f.start("logs", "-f", "talker")
	follow.waitForLine(t, "one")
	f.mustBox("kill", "-s", "USR1", "talker")
	follow.waitForLine(t, "two")
	if code := follow.wait(t); code != 0 {
		t.Errorf("logs -f exited %d after the container did, want 0", code)
	}
}

// TestFinalTop lists a container's processes with both PIDs: the init is
// PID 1 inside, the sleeps have the host PIDs the host's /proc gives them,
// and the uid column is the host's view (the mapped root, or nobody).
func TestFinalTop(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		uid   string
	}{
		{"userns default", nil, "100000"},
		{"userns host, -u nobody", []string{"--userns", "host", "-u", "nobody"}, "65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFinal(t)
			args := append(append([]string{"--name", "watched"}, tc.flags...), "--rootfs", sharedRootfs(t), "sh", "-c", "sleep 4721 & exec sleep 4722")
			f.detached(args...)
			// The background sleep may not have started when run -d returns.
			for deadline := time.Now().Add(runTimeout); len(processesWithArg("4721")) == 0 && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			r := f.mustBox("top", "watched")
			lines := nonEmptyLines(r.stdout)
			if len(lines) != 4 || !strings.HasPrefix(lines[0], "HOST PID") {
				t.Fatalf("want a header and three processes (init, two sleeps):\n%s", r.stdout)
			}
			init := strings.Fields(lines[1])
			if init[1] != "1" || !strings.HasSuffix(lines[1], " init") {
				t.Errorf("first row is not the init as PID 1: %q", lines[1])
			}
			seen := map[string]bool{}
			for _, line := range lines[2:] {
				fields := strings.Fields(line)
				if len(fields) != 5 {
					t.Fatalf("row %q: want HOST PID, PID, UID and a two-word command", line)
				}
				pids := processesWithArg(fields[4])
				if len(pids) != 1 {
					t.Fatalf("row %q: the host has %d processes with %s", line, len(pids), fields[4])
				}
				want := []string{strconv.Itoa(pids[0]), fields[1], tc.uid, "sleep", fields[4]}
				if diff := cmp.Diff(want, fields); diff != "" || fields[1] == "1" || fields[1] == fields[0] {
					t.Errorf("row %q (-want +got):\n%s", line, diff)
				}
				seen[fields[4]] = true
			}
			if !seen["4721"] || !seen["4722"] {
				t.Errorf("top does not list both sleeps:\n%s", r.stdout)
			}
		})
	}
}
