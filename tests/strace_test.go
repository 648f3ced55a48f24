package tests

// strace_test.go is the narration-truth harness: it runs a runtime under
// strace -f and holds the narration to what the kernel saw. The narration
// is read from the trace itself (the writes of each runtime process to the
// stderr it was given), so each narrated line is tied to the process that
// printed it and to the moment it was printed. For the call families in
// checkedFamilies, each narrated call must be one the same process made
// (or a child of it made between its clone and its execve, which only the
// parent can narrate), with the printed arguments and result, in the
// printed order, and printed only once it returned; each such call made
// must be narrated, or be on unnarrated, the one list of what is not
// narrated and why, which docs/README.md prints.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// checkedFamilies are the system calls strace records for the check.
var checkedFamilies = []string{
	"chroot", "chdir", "fchdir", "pivot_root", "mount", "umount2", "unshare", "clone", "clone3", "setns", "sethostname",
	"mkdir", "mkdirat", "mknod", "mknodat", "symlink", "symlinkat", "open", "openat", "rmdir", "unlinkat",
	"write", "sendto", "sendmsg", "prctl", "capset", "seccomp", "bpf", "close_range", "execve",
	"setgroups", "setresuid", "setresgid", "setuid", "setgid", "setsid", "flock",
	"socket", "bind", "listen", "connect", "accept4", "ioctl", "kill", "pidfd_send_signal", "dup2", "dup3",
	// Checked when narrated, never required: the store's renames, owners
	// and modes, and what a summary line counts (link, unlink).
	"rename", "renameat", "renameat2", "fchownat", "fchmodat", "link", "linkat", "unlink",
}

// traceOptions says how to run a traced runtime.
type traceOptions struct {
	stdin  *os.File // nil: /dev/null
	stdout *os.File // nil: a file
	// stderrPath is where the runtime's stderr goes: narration is what
	// it writes there. "": a file of the harness's.
	stderr     *os.File
	stderrPath string
	// alsoNarration are more files, as filepath.Match patterns, whose
	// writes are narration: a detached container's monitor narrates into
	// its state dir once run has returned, and the init narrates what box
	// exec asks of it onto box exec's stderr.
	alsoNarration []string
	roots         []string // creations below these are checked (rootfs, store, state dir)
	background    bool     // start and return; wait with traced.wait
	binary        string   // the runtime's binary: the step's, unless set (box-runc's link)
	ctty          bool     // start in a new session with stdin as its terminal
	// pending names why this scenario's narration is known to be untrue
	// yet: its mismatches are logged, not failed, and the test fails once
	// there are none, so the entry is removed (see pendingNarration).
	pending string
}

// traced is one traced run.
type traced struct {
	t         testing.TB
	cmd       *exec.Cmd
	traceFile string
	errFile   string
	release   func()
	opts      traceOptions
	label     string
	whole     map[string]bool // the lines of narration its processes wrote whole, set by wait
}

// checkNarration runs the binary of step with args under strace -f and
// fails t naming each call on which narration and kernel disagree.
func checkNarration(t testing.TB, strace, step string, args []string) narrationReport {
	t.Helper()
	tr := startTraced(t, strace, step, stepArgs(step, args), traceOptions{roots: rootsIn(args), pending: pendingNarration(step, args)})
	return tr.wait()
}

// pendingNarration says why the narration of step run with args is known
// not to match strace yet, or "" when it must. Each entry is a gap issue 11
// names that is not fixed yet; the test fails once an entry is not needed.
func pendingNarration(step string, args []string) string {
	// None is pending now. An entry tests the command line, as in
	// `if step == finalStep && slices.Contains(args, "build") { return "why" }`.
	return ""
}

// rootsIn finds the directories a command line names for a container.
func rootsIn(args []string) []string {
	var roots []string
	for i, a := range args {
		switch a {
		case "--rootfs", "--store", "--state-dir":
			if i+1 < len(args) {
				roots = append(roots, args[i+1])
			}
		}
	}
	return roots
}

// startTraced starts bin args under strace.
func startTraced(t testing.TB, strace, step string, args []string, o traceOptions) *traced {
	t.Helper()
	dir := t.TempDir()
	if o.binary == "" {
		o.binary = binary(t, step)
	}
	tr := &traced{t: t, traceFile: filepath.Join(dir, "strace.out"), opts: o, label: step + " " + strings.Join(args, " ")}
	sargs := []string{"-f", "-qq", "-yy", "--pidns-translation", "-s", "65536", "-e", "signal=none",
		"-e", "trace=" + strings.Join(checkedFamilies, ","), "-o", tr.traceFile, o.binary}
	tr.release = hostMounts.share(t)
	tr.cmd = exec.Command(strace, append(sargs, args...)...)
	tr.cmd.Env = append(os.Environ(), "NO_COLOR=1")
	tr.cmd.Stdin = o.stdin
	if o.ctty {
		tr.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}
	if o.stdout != nil {
		tr.cmd.Stdout = o.stdout
	} else {
		out, err := os.Create(filepath.Join(dir, "stdout"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		tr.cmd.Stdout = out
	}
	if o.stderr != nil {
		tr.cmd.Stderr = o.stderr
	} else {
		tr.errFile = filepath.Join(dir, "stderr")
		f, err := os.Create(tr.errFile)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		tr.cmd.Stderr = f
		tr.opts.stderrPath = tr.errFile
	}
	if err := tr.cmd.Start(); err != nil {
		tr.release()
		t.Fatalf("strace %s: %v", tr.label, err)
	}
	if !o.background {
		return tr
	}
	t.Cleanup(func() {
		if tr.cmd.ProcessState == nil {
			_ = tr.cmd.Process.Kill()
			_ = tr.cmd.Wait()
			tr.release()
		}
	})
	return tr
}

// narrationReport is what one traced run found.
type narrationReport struct {
	narrated, traced int
	mismatches       []string
}

// wait waits for the traced run and checks its narration.
func (tr *traced) wait() narrationReport {
	t := tr.t
	t.Helper()
	err := tr.cmd.Wait()
	tr.release()
	stderr := ""
	if tr.errFile != "" {
		b, _ := os.ReadFile(tr.errFile)
		stderr = string(b)
	}
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("strace %s: %v\n%s", tr.label, err, stderr)
		}
	}
	trace, rerr := os.ReadFile(tr.traceFile)
	if rerr != nil {
		t.Fatal(rerr)
	}
	pt := parseTrace(string(trace))
	rep := compareNarration(pt, tr.opts)
	tr.whole = map[string]bool{}
	for _, l := range groupTrace(pt, tr.opts).lines {
		tr.whole[l.text] = true
	}
	if stderr != "" {
		rep.mismatches = append(rep.mismatches, splitLines(stderr, parseTrace(string(trace)), tr.opts)...)
	}
	if rep.narrated == 0 {
		rep.mismatches = append(rep.mismatches, "no narrated call found")
	}
	switch {
	case len(rep.mismatches) > 0 && tr.opts.pending != "":
		t.Logf("PENDING (%s): narration and strace disagree for %s:\n  %s\nstrace: %s", tr.opts.pending, tr.label, strings.Join(rep.mismatches, "\n  "), keepTrace(t, tr.traceFile))
	case tr.opts.pending != "":
		t.Errorf("%s: narration agrees with strace now; remove it from pendingNarration", tr.label)
	case len(rep.mismatches) > 0:
		t.Errorf("narration and strace disagree for %s (exit %v):\n  %s\nnarration:\n%s\nstrace: %s",
			tr.label, err, strings.Join(rep.mismatches, "\n  "), stderr, keepTrace(t, tr.traceFile))
	default:
		t.Logf("%s: %d narrated calls, %d traced calls of the checked families, all agree", tr.label, rep.narrated, rep.traced)
	}
	return rep
}

// splitAcross checks, as wait does for a stderr of its own, that each line
// of narration in the file at path was written whole by a process of one
// of the traced runs: box exec's stderr holds its own lines and those the
// container's init, traced with run -d, wrote for it.
func splitAcross(path string, runs ...*traced) narrationReport {
	var rep narrationReport
	b, err := os.ReadFile(path)
	if err != nil {
		rep.mismatches = append(rep.mismatches, err.Error())
		return rep
	}
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "# ") {
			continue
		}
		whole := false
		for _, tr := range runs {
			whole = whole || tr.whole[l]
		}
		if !whole {
			rep.mismatches = append(rep.mismatches, "line split by another process's output: "+strconv.Quote(l))
		}
	}
	return rep
}

// keepTrace copies a failing trace where it survives the test.
func keepTrace(t testing.TB, file string) string {
	dst := filepath.Join(harness.hostTmp, "box-strace-"+strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+".out")
	if b, err := os.ReadFile(file); err == nil && os.WriteFile(dst, b, 0o644) == nil {
		return dst
	}
	return file
}

// sysCall is one system call in the trace.
type sysCall struct {
	pid        int
	name       string
	args       []string // as strace printed them, fd annotations kept
	result     string   // "0", "-1 EEXIST", "3</path>", "?"
	hostPid    int      // a pid result as strace's PID namespace sees it
	start, end int      // line numbers where it started and returned
}

// traceEvent is a line of strace -f -o output, a call joined whole.
type parsedTrace struct {
	calls []sysCall
}

var straceLine = regexp.MustCompile(`^(\d+)\s+(.*)$`)

// translatedPid is how --pidns-translation shows a pid result from inside
// a PID namespace: "= 10 /* 32110 in strace's PID NS */".
var translatedPid = regexp.MustCompile(`= -?\d+ /\* (\d+) in strace's PID NS \*/\s*$`)

// pidChanged ends the line of an execve made by a thread other than the
// first (see parseTrace).
var pidChanged = regexp.MustCompile(`\s*<pid changed to (\d+) \.\.\.>$`)

// parseTrace reads strace -f -o output, joining each call that another
// process interrupted ("<unfinished ...>") with its "<... resumed>" end.
func parseTrace(trace string) parsedTrace {
	type pending struct {
		text  string
		start int
	}
	open := map[int]pending{}
	var pt parsedTrace
	for i, line := range strings.Split(trace, "\n") {
		m := straceLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		rest, start := m[2], i
		if strings.HasSuffix(rest, "<unfinished ...>") {
			open[pid] = pending{strings.TrimSuffix(rest, "<unfinished ...>"), i}
			continue
		}
		// A thread other than the first that execve()s takes over the
		// process's pid, and its execve returns under that pid: strace
		// says so at its start, or in a line before it returns.
		if m := pidChanged.FindStringSubmatch(rest); m != nil {
			to, _ := strconv.Atoi(m[1])
			open[to] = pending{strings.TrimSuffix(rest, m[0]), i}
			continue
		}
		if n, ok := strings.CutPrefix(rest, "+++ superseded by execve in pid "); ok {
			if from, err := strconv.Atoi(strings.TrimSuffix(n, " +++")); err == nil {
				if p, ok := open[from]; ok {
					open[pid] = p
					delete(open, from)
				}
			}
			continue
		}
		if strings.HasPrefix(rest, "<... ") {
			_, after, ok := strings.Cut(rest, " resumed>")
			if !ok {
				continue
			}
			p := open[pid]
			delete(open, pid)
			rest, start = strings.TrimRight(p.text, " ")+after, p.start
			if p.text == "" {
				continue
			}
		}
		c, ok := parseCall(rest)
		if !ok {
			continue
		}
		c.pid, c.start, c.end = pid, start, i
		if m := translatedPid.FindStringSubmatch(rest); m != nil {
			c.hostPid, _ = strconv.Atoi(m[1])
		}
		pt.calls = append(pt.calls, c)
	}
	sort.SliceStable(pt.calls, func(a, b int) bool { return pt.calls[a].start < pt.calls[b].start })
	return pt
}

// parseCall splits `name(arg, arg) = result` at its top-level commas,
// minding quotes, brackets, comments and strace's <fd annotations>.
func parseCall(s string) (sysCall, bool) {
	open := strings.IndexByte(s, '(')
	if open <= 0 || strings.ContainsAny(s[:open], " \t\"") {
		return sysCall{}, false
	}
	c := sysCall{name: s[:open]}
	depth, start, inQuote := 0, open+1, false
	for i := open; i < len(s); i++ {
		ch := s[i]
		switch {
		case inQuote && ch == '\\':
			i++
		case ch == '"':
			inQuote = !inQuote
		case inQuote:
		case ch == '/' && i+1 < len(s) && s[i+1] == '*':
			if end := strings.Index(s[i:], "*/"); end > 0 {
				i += end + 1
			}
		case ch == '<' && i > 0 && (isDigit(s[i-1]) || strings.HasSuffix(s[:i], "AT_FDCWD")) && (i+1 == len(s) || s[i+1] != '<'):
			// An fd's annotation, not a shift (1<<CAP_CHOWN).
			i = annotationEnd(s, i)
		case ch == '(' || ch == '[' || ch == '{':
			depth++
		case ch == ')' || ch == ']' || ch == '}':
			depth--
			if depth == 0 {
				if arg := strings.TrimSpace(s[start:i]); arg != "" || len(c.args) > 0 {
					c.args = append(c.args, arg)
				}
				rest := strings.TrimSpace(s[i+1:])
				rest = strings.TrimSpace(cComment.ReplaceAllString(rest, ""))
				if !strings.HasPrefix(rest, "=") {
					if rest == "" {
						return c, true // narration of a call that does not return (execve)
					}
					return sysCall{}, false
				}
				c.result = strings.TrimSpace(strings.TrimPrefix(rest, "="))
				return c, true
			}
		case ch == ',' && depth == 1:
			c.args = append(c.args, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return sysCall{}, false
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// annotationEnd finds the '>' closing strace's <...> after an fd; "->"
// inside (a socket's two ends) does not close it.
func annotationEnd(s string, i int) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch {
		case s[j] == '<':
			depth++ // a terminal's is nested: </dev/pts/0<char 136:0>>
		case s[j] == '>' && s[j-1] != '-':
			if depth--; depth == 0 {
				return j
			}
		}
	}
	return len(s) - 1
}

// fdAnnotation splits "3</path>" into "3" and "/path"; strace adds
// "(deleted)" after the path of a file removed since it was opened (another
// container's cgroup, gone while a leftover scan held it).
var fdAnnotation = regexp.MustCompile(`^(-?\d+|AT_FDCWD)<(.*)>(?:\(deleted\))?$`)

func splitFD(a string) (fd, path string) {
	if m := fdAnnotation.FindStringSubmatch(a); m != nil {
		return m[1], deviceNumber.ReplaceAllString(m[2], "")
	}
	return a, ""
}

// deviceNumber is what -yy adds after a device's path: <char 136:0>.
var deviceNumber = regexp.MustCompile(`<(char|block) \d+:\d+>$`)

// cComment matches a C comment, which narration uses for asides.
var cComment = regexp.MustCompile(`\s*/\*.*?\*/`)

// unquoteC reads a C string literal as strace prints it.
func unquoteC(s string) (string, bool) {
	if len(s) < 2 || s[0] != '"' {
		return "", false
	}
	end := strings.LastIndexByte(s, '"')
	if end <= 0 {
		return "", false
	}
	body := s[1:end]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' || i+1 == len(body) {
			b.WriteByte(body[i])
			continue
		}
		i++
		switch c := body[i]; c {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'v':
			b.WriteByte('\v')
		case 'f':
			b.WriteByte('\f')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'x':
			j := i + 1
			for j < len(body) && j < i+3 && strings.IndexByte("0123456789abcdefABCDEF", body[j]) >= 0 {
				j++
			}
			v, _ := strconv.ParseUint(body[i+1:j], 16, 8)
			b.WriteByte(byte(v))
			i = j - 1
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			for j < len(body) && j < i+3 && body[j] >= '0' && body[j] <= '7' {
				j++
			}
			v, _ := strconv.ParseUint(body[i:j], 8, 8)
			b.WriteByte(byte(v))
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// The markers around the list of unnarrated calls in docs/README.md.
const (
	unnarratedStart = "<!-- unnarrated -->"
	unnarratedEnd   = "<!-- /unnarrated -->"
)

// renderUnnarrated is the list docs/README.md prints.
func renderUnnarrated() string {
	var b strings.Builder
	for _, u := range unnarrated {
		who := ""
		if u.program != "all" {
			who = " (" + u.program + " only)"
		}
		fmt.Fprintf(&b, "- %s%s: %s\n", u.what, who, u.why)
	}
	return b.String()
}

// TestStraceListInDocs keeps docs/README.md's list of the calls that are
// made and not narrated the harness's own list.
func TestStraceListInDocs(t *testing.T) {
	path := filepath.Join(harness.repo, "docs", "README.md")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start, end := strings.Index(text, unnarratedStart), strings.Index(text, unnarratedEnd)
	if start < 0 || end < start {
		t.Fatalf("docs/README.md has no %s ... %s markers", unnarratedStart, unnarratedEnd)
	}
	inner := start + len(unnarratedStart) + 1
	want := renderUnnarrated()
	if *update {
		if err := os.WriteFile(path, []byte(text[:inner]+want+text[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := text[inner:end]; got != want {
		t.Errorf("docs/README.md's list of unnarrated calls is not tests/narration_compare_test.go's; run: go test ./tests -run TestStraceListInDocs -update\nwant:\n%s\ngot:\n%s", want, got)
	}
}

// TestNarratedKeys pins how both sides of a few lines are read.
func TestNarratedKeys(t *testing.T) {
	tests := []struct{ narrated, traced string }{
		{`mount("", "/", "", MS_REC|MS_PRIVATE, NULL) = 0`, `mount("", "/", 0x145b636454cc, MS_REC|MS_PRIVATE, NULL) = 0`},
		{`umount2(".", MNT_DETACH) = -1 EINVAL (invalid argument)`, `umount2(".", MNT_DETACH) = -1 EINVAL (Invalid argument)`},
		{`clone(flags=CLONE_PIDFD|CLONE_NEWNS|CLONE_NEWPID|SIGCHLD /* Go adds CLONE_VM|CLONE_VFORK */) = 16105`,
			`clone(child_stack=NULL, flags=CLONE_VM|CLONE_PIDFD|CLONE_VFORK|CLONE_NEWNS|CLONE_NEWPID|SIGCHLD, parent_tid=[5<pid:16105>]) = 16105`},
		{`mkdir("/r/dev/pts", 0755) = 0`, `mkdirat(AT_FDCWD</tmp>, "/r/dev/pts", 0755) = 0`},
		{`symlink("pts/ptmx", "/r/dev/ptmx") = 0`, `symlinkat("pts/ptmx", AT_FDCWD</tmp>, "/r/dev/ptmx") = 0`},
		{`rmdir("/sys/fs/cgroup/pids/box-1") = 0`, `unlinkat(AT_FDCWD</x>, "/sys/fs/cgroup/pids/box-1", AT_REMOVEDIR) = 0`},
		{`write /sys/fs/cgroup/pids/box-1/pids.max <- "10" = 0`, `write(5</sys/fs/cgroup/pids/box-1/pids.max>, "10", 2) = 2`},
		{`setns(18 /* /proc/1/ns/net */, CLONE_NEWNET) = 0`, `setns(18<net:[4026532]>, CLONE_NEWNET) = 0`},
		{`/* child */ execve("/proc/self/exe", ["x", "child"], environ /* 3 vars */) = 0`, `execve("/proc/self/exe", ["x", "child"], 0x7ffc /* 3 vars */) = 0`},
		{`close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) = 0`, `close_range(3, 4294967295, CLOSE_RANGE_CLOEXEC) = 0`},
		{`capset({_LINUX_CAPABILITY_VERSION_3, 0}, {effective=permitted=CAP_CHOWN|CAP_KILL, inheritable=0}) = 0`,
			`capset({version=_LINUX_CAPABILITY_VERSION_3, pid=0}, {effective=1<<CAP_CHOWN|1<<CAP_KILL, permitted=1<<CAP_CHOWN|1<<CAP_KILL, inheritable=0}) = 0`},
		{`prctl(PR_SET_DUMPABLE, SUID_DUMP_DISABLE, 0, 0, 0) = 0`, `prctl(PR_SET_DUMPABLE, SUID_DUMP_DISABLE) = 0`},
		{`RTM_SETLINK {flags=IFF_UP, ifname="lo"} = 0`,
			`sendto(3<NETLINK:[338757]>, [{nlmsg_len=40, nlmsg_type=0x13 /* NLMSG_??? */, nlmsg_flags=NLM_F_REQUEST|NLM_F_ACK, nlmsg_seq=1, nlmsg_pid=0}, "\x00"], 40, 0, {sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, 12) = 40`},
	}
	for _, tt := range tests {
		keys := narratedKeys(tt.narrated)
		c, ok := parseCall(tt.traced)
		if !ok || len(keys) != 1 {
			t.Errorf("cannot read %q (%v) or %q", tt.narrated, keys, tt.traced)
			continue
		}
		if got := traceKey(c); got != keys[0] {
			t.Errorf("narrated %q\n  as %q\ntraced %q\n  as %q", tt.narrated, keys[0], tt.traced, got)
		}
	}
	trace := "7 mount(\"proc\", \"/proc\", \"proc\", MS_NOSUID, NULL <unfinished ...>\n8 write(1, \"x\", 1) = 1\n7 <... mount resumed>) = 0\n"
	pt := parseTrace(trace)
	if len(pt.calls) != 2 || pt.calls[0].name != "mount" || pt.calls[0].result != "0" || pt.calls[0].end != 2 {
		t.Errorf("parseTrace joined the mount wrongly: %+v", pt.calls)
	}
	if keys := narratedKeys(`prctl(PR_CAPBSET_DROP, CAP) /* for each of 2: CAP_SYS_ADMIN, CAP_NET_ADMIN */ = 0`); len(keys) != 2 || keys[1] != "prctl(PR_CAPBSET_DROP, CAP_NET_ADMIN) = 0" {
		t.Errorf("for each of: %q", keys)
	}
}
