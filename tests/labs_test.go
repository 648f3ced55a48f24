package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Every chapter ends with labs: a task in words, then one or more fenced
// blocks that check the answer and print PASS or FAIL (and may clean up
// after it). TestDocsLabs runs each lab twice, in a directory of its own
// laid out like a learner's (bin/, rootfs/): once after the solution
// below, when the check must print PASS and no FAIL, and once without it,
// when the check must print FAIL and no PASS. Both times the lab must
// leave its rootfs as it found it, so that a learner who does every lab in
// order meets the transcripts of later chapters unchanged.
//
// The runs happen in namespaces of their own (mount, UTS, network, IPC):
// a lab that renames "the host" renames only the lab's, and two labs that
// use the same subnet do not meet. The checks themselves look only at what
// the learner's run made, as they must on a shared classroom machine.

// labSolution is one lab's answer, as a learner would type it.
type labSolution struct {
	title  string // the lab's bold title, to catch labs that moved
	script string // bash, run in the lab's directory before the check
}

// labSetups recreate what a chapter's own commands left that its labs
// build on, as a learner has it after reading the chapter.
var labSetups = map[string]string{
	"03-mount-ns.md": `mkdir -p shared && echo 'written on the host' > shared/note.txt`,
	"05-user-ns.md":  `05-user-ns -q shift-rootfs $ROOTFS`,
	"06-cgroups.md":  `06-cgroups -q shift-rootfs $ROOTFS`,
	"07-layers.md": `07-layers -q shift-rootfs $ROOTFS
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C $ROOTFS -cf busybox.tar .
07-layers --store store -q import busybox.tar busybox`,
	"final.md": `mkdir -p hello
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C $ROOTFS -cf hello/busybox.tar .
echo 'hello from a layer' > hello/hello.txt
printf '%s\n' 'FROM scratch' 'ADD busybox.tar /' 'COPY hello.txt /hello.txt' 'CMD ["cat", "/hello.txt"]' > hello/Dockerfile
box build -q -t hello:1.0 hello >/dev/null`,
}

// labSolutions are the answers, per chapter, in the order of its labs.
// They are the instructors' key too (docs/instructors.md points here).
var labSolutions = map[string][]labSolution{
	"01-chroot.md": {
		{"Kill it hard.", `sleep 4243 &
01-chroot run -q --rootfs $ROOTFS -- sh -c "mount -t proc proc /proc; kill -KILL $!; umount /proc"`},
		{"Rename the host.", `01-chroot run -q --rootfs $ROOTFS -- hostname chrooted`},
		{"Write on the host.", `cp bin/01-chroot $ROOTFS/escape
01-chroot run -q --rootfs $ROOTFS -- /escape escape /bin/touch /tmp/escaped-from-01
rm -r $ROOTFS/escape $ROOTFS/.escape`},
		{"What ldd knows.", `01-chroot -q rootfs build --from-host hostroot
01-chroot run -q --rootfs hostroot -- ls /
rm -f hostroot/lib64/ld-linux-x86-64.so.2 hostroot/lib/ld-linux-aarch64.so.1`},
	},
	"02-pid-ns.md": {
		{"A PID 1 that stops on Ctrl-C.", `printf '%s\n' 'trap "exit 0" INT' 'while true; do sleep 1; done' > $ROOTFS/init.sh`},
		{"Two numbers for one process.", `02-pid-ns run -q --rootfs $ROOTFS -- sleep 1000 & sleep 1
for s in /proc/[0-9]*/status; do p=$(basename $(dirname $s)); grep -qP '^NSpid:\t\d+\t1$' $s && [ "$(readlink /proc/$p/root)" = "$ROOTFS" ] && PID=$p; done`},
		{"Chapter 01's kill, again.", `sleep 4244 &
02-pid-ns run -q --rootfs $ROOTFS -- kill $!`},
	},
	"03-mount-ns.md": {
		{"Written on the host.", `03-mount-ns run -q --rootfs $ROOTFS -v $PWD/shared:/shared -- sh -c 'echo from the container >> /shared/note.txt'`},
		{"The rootfs is not a copy.", `03-mount-ns run -q --rootfs $ROOTFS -- touch /made-inside`},
		{"Private, both ways.", `echo no > prediction.txt`},
		{"nsenter, the long way.", `03-mount-ns run -q --rootfs $ROOTFS -- sleep 1000 & sleep 1
nsenter --target $(cat /proc/$!/task/*/children | tr -d ' ') --mount touch /tmp/hello`},
	},
	"04-uts-net-ipc.md": {
		{"A server in the container.", `mkdir -p www && echo hello > www/index.html
04-uts-net-ipc run -q --rootfs $ROOTFS --net veth -v $PWD/www:/www:ro -- httpd -f -p 8080 -h /www & sleep 1`},
		{"Two at once.", `04-uts-net-ipc run -q --rootfs $ROOTFS --net veth -- ping -c 3 10.200.0.1 > one.txt &
04-uts-net-ipc run -q --rootfs $ROOTFS --net veth --subnet 10.200.0.4/30 -- ping -c 3 10.200.0.5 > two.txt &
sleep 1`},
		{"A message in the container's mailbox.", `04-uts-net-ipc run -q --rootfs $ROOTFS -- sleep 1000 & sleep 1
nsenter --target $(cat /proc/$!/task/*/children | tr -d ' ') --ipc ipcmk -Q`},
	},
	"05-user-ns.md": {
		{"Another range.", `05-user-ns -q rootfs build rootfs2
05-user-ns -q shift-rootfs rootfs2 --to 200000
05-user-ns run -q --rootfs rootfs2 --userns-map 200000:65536 -- touch /range-file`},
		{"Who am I, from outside?", `05-user-ns run -q --rootfs $ROOTFS -- sleep 1000 & sleep 1
P=$(cat /proc/$!/task/*/children | tr -d ' '); awk '/^Uid:/ {print $2}' /proc/$P/status > uid.txt`},
		{"Nobody's file.", `05-user-ns run -q --rootfs $ROOTFS -v /etc:/hostetc:ro -- stat -c %u /hostetc/shadow > owner.txt`},
	},
	"06-cgroups.md": {
		{"The smallest limit.", `for m in $(seq 40 120); do 06-cgroups run -q --rootfs $ROOTFS -m ${m}m -- dd if=/dev/zero of=/dev/null bs=48M count=1 2>/dev/null && break; done
echo $m > limit.txt`},
		{"Read the limit from outside.", `06-cgroups run -q --rootfs $ROOTFS --pids-limit 20 -- sleep 1000 & sleep 1
P=$(cat /proc/$!/task/*/children | tr -d ' ')
if grep -q ':pids:' /proc/$P/cgroup; then g=/sys/fs/cgroup/pids$(grep ':pids:' /proc/$P/cgroup | cut -d: -f3); else g=/sys/fs/cgroup$(cut -d: -f3 /proc/$P/cgroup); fi
cat $g/pids.max > pidsmax.txt`},
		{"Throttled.", `06-cgroups run -q --rootfs $ROOTFS --cpus 0.2 -v /sys/fs/cgroup:/cg:ro -- sh -c 'timeout 2 sh -c "while :; do :; done"
if grep -q ":cpu[,:]" /proc/self/cgroup; then cat /cg/cpu$(grep ":cpu[,:]" /proc/self/cgroup | cut -d: -f3)/cpu.stat; else cat /cg$(cut -d: -f3 /proc/self/cgroup)/cpu.stat; fi' > cpu.stat`},
	},
	"07-layers.md": {
		{"Stored once.", `07-layers --store store -q import busybox.tar again`},
		{"Find the whiteout.", `07-layers --store store run -q --image busybox --commit novi -- rm /bin/vi`},
		{"An opaque dir.", `07-layers --store store run -q --image busybox --commit fresh -- sh -c 'rm -r /etc && mkdir /etc && touch /etc/only'`},
	},
	"final.md": {
		{"A two-line image.", `mkdir -p lab && printf '%s\n' 'FROM hello:1.0' 'CMD ["echo", "lab"]' > lab/Dockerfile
box build -q -t lab lab`},
		{"Stop the unstoppable.", `box run -d --name sleeper hello:1.0 sleep 1000
box stop sleeper`},
		{"The limits, as box knows them.", `box run -d --name limited -m 64m --pids-limit 50 hello:1.0 sleep 1000
P=$(box inspect limited | grep -m 1 '"Pid"' | tr -dc 0-9)
if grep -q ':memory:' /proc/$P/cgroup; then cat /sys/fs/cgroup/memory$(grep ':memory:' /proc/$P/cgroup | cut -d: -f3)/memory.limit_in_bytes; else cat /sys/fs/cgroup$(cut -d: -f3 /proc/$P/cgroup)/memory.max; fi > limits.txt`},
		{"Your own web server.", `mkdir -p web && echo lab > web/index.html && printf '%s\n' 'FROM hello:1.0' 'COPY index.html /www/index.html' 'CMD ["httpd", "-f", "-p", "80", "-h", "/www"]' > web/Dockerfile
box build -q -t web web
box run -d --name webby --net veth -p 127.0.0.1:8081:80 web
sleep 1`},
	},
}

// labItem is one lab of a chapter: its number, title and check blocks.
type labItem struct {
	number int
	title  string
	checks []string // the fenced blocks, unindented, in order
}

var (
	labHeading = regexp.MustCompile(`(?m)^(\d+)\. \*\*(.+?)\*\*`)
	labFence   = regexp.MustCompile("(?ms)^   ```\n(.*?)^   ```\n")
)

// parseLabs finds the labs of a chapter: the numbered items between its
// "## Labs" heading and the next heading or its "Next:" line.
func parseLabs(text string) []labItem {
	start := strings.Index(text, "\n## Labs\n")
	if start < 0 {
		return nil
	}
	section := text[start+1:]
	if end := regexp.MustCompile(`(?m)^(## |Next:)`).FindAllStringIndex(section, 2); len(end) == 2 {
		section = section[:end[1][0]]
	}
	var labs []labItem
	heads := labHeading.FindAllStringSubmatchIndex(section, -1)
	for i, h := range heads {
		end := len(section)
		if i+1 < len(heads) {
			end = heads[i+1][0]
		}
		var n int
		fmt.Sscan(section[h[2]:h[3]], &n)
		item := labItem{number: n, title: section[h[4]:h[5]]}
		for _, f := range labFence.FindAllStringSubmatch(section[h[0]:end], -1) {
			var lines []string
			for _, l := range strings.Split(strings.TrimSuffix(f[1], "\n"), "\n") {
				lines = append(lines, strings.TrimPrefix(l, "   "))
			}
			item.checks = append(item.checks, strings.Join(lines, "\n"))
		}
		labs = append(labs, item)
	}
	return labs
}

// TestDocsLabs runs every lab of every chapter done right and not done.
func TestDocsLabs(t *testing.T) {
	for _, path := range chapters(t) {
		chapter := filepath.Base(path)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		labs := parseLabs(string(raw))
		if len(labs) == 0 {
			continue
		}
		solutions := labSolutions[chapter]
		var titles, solved []string
		for _, l := range labs {
			titles = append(titles, l.title)
		}
		for _, s := range solutions {
			solved = append(solved, s.title)
		}
		if diff := cmp.Diff(titles, solved); diff != "" {
			t.Errorf("docs/%s: the labs and their solutions in tests/labs_test.go differ (-chapter +solutions):\n%s", chapter, diff)
			continue
		}
		t.Run(chapter, func(t *testing.T) {
			t.Parallel()
			requireRoot(t)
			requireBusyboxRootfs(t)
			for i, lab := range labs {
				if len(lab.checks) == 0 {
					t.Errorf("docs/%s: lab %d (%s) has no check block", chapter, lab.number, lab.title)
					continue
				}
				for _, done := range []bool{true, false} {
					name := fmt.Sprintf("lab%d/done", lab.number)
					if !done {
						name = fmt.Sprintf("lab%d/not_done", lab.number)
					}
					t.Run(name, func(t *testing.T) {
						solution := ""
						if done {
							solution = solutions[i].script
						}
						runLab(t, chapter, lab, solution, done)
					})
				}
			}
		})
	}
}

// labTimeout bounds one run of a lab, so a lab that hangs fails alone; it
// is not a speed check.
const labTimeout = 3 * time.Minute

var (
	labPass = regexp.MustCompile(`(?m)^PASS$`)
	labFail = regexp.MustCompile(`(?m)^FAIL`)
)

// runLab runs the chapter's setup, the solution (none for a lab not done)
// and the lab's blocks in one bash, and checks what the blocks printed.
func runLab(t *testing.T, chapter string, lab labItem, solution string, done bool) {
	t.Helper()
	w := newDocsWorkdir(t)
	script := "set -m\n$ROOTFS/bin/busybox ip link set lo up || exit 1\n"
	usesBox := strings.Contains(labSetups[chapter]+solution+strings.Join(lab.checks, "\n"), "box ")
	if usesBox {
		binary(t, finalStep)
		script += "mount -t tmpfs -o mode=0755 box-labs /var/lib && mkdir /var/lib/box &&\n" +
			"mount -t tmpfs -o mode=0755 box-labs /run && mkdir /run/box || exit 1\n"
	}
	for _, tool := range toolsUsed {
		if regexp.MustCompile(`\b` + tool + `\b`).MatchString(solution + strings.Join(lab.checks, "\n")) {
			requireTool(t, tool)
		}
	}
	if setup := labSetups[chapter]; setup != "" {
		script += "{\n" + setup + "\n} >setup.log 2>&1 || { echo 'lab setup failed:'; cat setup.log; exit 1; }\n"
	}
	script += solution + "\n"
	script += "echo '<<<box-lab-check>>>'\n"
	script += strings.Join(lab.checks, "\n") + "\n"
	if usesBox {
		// Detached containers outlive the script: remove them, as the
		// labs tell a learner to.
		script += "box ps -a --quiet-ids | xargs -r box rm -f >/dev/null 2>&1\n"
	}
	builds.once.Do(buildAll)
	for step, err := range builds.errs {
		if err != nil && strings.Contains(script, step) {
			t.Fatalf("build %s: %v", step, err)
		}
	}
	scriptFile := filepath.Join(t.TempDir(), "lab.sh")
	if err := os.WriteFile(scriptFile, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	release := hostMounts.share(t)
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), labTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--norc", "--noprofile", scriptFile)
	cmd.Dir = w.dir
	cmd.Env = []string{
		"PATH=" + w.bin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + w.dir,
		"ROOTFS=" + w.rootfs,
		"TERM=xterm",
		"NO_COLOR=1",
		"LC_ALL=C",
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A lab of its own: its hostname, network, IPC and mounts are not the
	// host's (os/exec makes the new mount namespace's mounts private).
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid:       true,
		Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET | syscall.CLONE_NEWIPC,
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// What the lab left running goes with it (set -m gave each background
	// job a group of its own, so kill what is left in the session).
	killSession(cmd.Process.Pid)
	if ctx.Err() != nil {
		t.Fatalf("still running after %v, killed; output:\n%s", labTimeout, out.String())
	}
	_, checked, found := strings.Cut(out.String(), "<<<box-lab-check>>>\n")
	if !found {
		t.Fatalf("the lab stopped before its check; output:\n%s", out.String())
	}
	pass, fail := labPass.MatchString(checked), labFail.MatchString(checked)
	switch {
	case done && (!pass || fail):
		t.Errorf("docs/%s lab %d (%s), done right: the check does not print PASS alone; output:\n%s", chapter, lab.number, lab.title, out.String())
	case !done && (pass || !fail):
		t.Errorf("docs/%s lab %d (%s), not done: the check does not print FAIL alone; output:\n%s", chapter, lab.number, lab.title, out.String())
	}
	names, err := treeNames(w.rootfs)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(shared.names, names); diff != "" {
		t.Errorf("docs/%s lab %d (%s) leaves the rootfs changed: say how to undo it in the lab (-before +after):\n%s", chapter, lab.number, lab.title, diff)
	}
}

// killSession kills every process of the session that the lab's bash
// leads: jobs under set -m get process groups of their own, so the group
// of bash is not all.
func killSession(sid int) {
	_ = syscall.Kill(-sid, syscall.SIGKILL)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command's closing paren: state ppid pgrp session.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 3 && f[3] == fmt.Sprint(sid) {
			var pid int
			fmt.Sscan(e.Name(), &pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// TestDocsLabsParse checks the lab parser on a made-up chapter.
func TestDocsLabsParse(t *testing.T) {
	text := "intro\n## Labs\n\nSome words.\n\n1. **First.** Do it.\n\n   ```\n   check 1\n   more\n   ```\n\n   Then:\n\n   ```\n   cleanup\n   ```\n\n" +
		"2. **Second one.** Again.\n\n   ```\n   check 2\n   ```\n\nNext: elsewhere.\n\n3. **Not a lab.**\n"
	got := parseLabs(text)
	want := []labItem{{1, "First.", []string{"check 1\nmore", "cleanup"}}, {2, "Second one.", []string{"check 2"}}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(labItem{})); diff != "" {
		t.Errorf("labs (-want +got):\n%s", diff)
	}
}
