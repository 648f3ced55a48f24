package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tracedCalls are the system calls whose narration must be true: each one
// the runtime narrates was made with those arguments, and each one it made
// was narrated.
var tracedCalls = []string{"chroot", "pivot_root", "mount", "umount2", "unshare", "setns", "sethostname", "clone", "clone3", "close_range", "seccomp"}

// TestNarrationMatchesStrace runs each step under strace and compares
// what the step narrates on stderr with what the kernel saw.
func TestNarrationMatchesStrace(t *testing.T) {
	requireRoot(t)
	strace := requireTool(t, "strace")
	for _, step := range harness.steps {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			var extra []string
			if step == finalStep {
				help := run(t, step, "run", "--help")
				if !strings.Contains(help.stdout+help.stderr, "--explain") {
					t.Skip("final has no run --explain flag to narrate with")
				}
				extra = []string{"--explain"}
			}
			cases := []struct {
				name   string
				volume bool
			}{{"true", false}}
			if stepAtLeast(step, "03-mount-ns") {
				cases = append(cases, cases[0])
				cases[1].name, cases[1].volume = "read-only volume", true
			}
			for _, tc := range cases {
				tc := tc
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					rootfs := rootfsCopy(t) // a volume creates its mount point in it
					args := append([]string{"run"}, extra...)
					args = append(args, "--rootfs", rootfs)
					if tc.volume {
						args = append(args, "-v", hostDir(t, nil)+":/data:ro")
					}
					args = append(args, "--", "true")
					checkNarration(t, strace, step, args)
				})
			}
		})
	}
}

// checkNarration runs step's binary with args under strace -f and fails t
// with the calls missing on either side.
func checkNarration(t *testing.T, strace, step string, args []string) {
	t.Helper()
	traceFile := filepath.Join(t.TempDir(), "strace.out")
	straceArgs := []string{"-f", "-qq", "-s", "4096", "-e", "trace=" + strings.Join(tracedCalls, ","), "-o", traceFile, binary(t, step)}
	release := hostMounts.share(t)
	cmd := exec.Command(strace, append(straceArgs, stepArgs(step, args)...)...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	release()
	if err != nil {
		t.Fatalf("strace %s %s: %v\n%s", step, strings.Join(args, " "), err, stderr.String())
	}
	trace, err := os.ReadFile(traceFile)
	if err != nil {
		t.Fatal(err)
	}
	narrated := narratedCalls(stderr.String())
	if len(narrated) == 0 {
		t.Fatalf("found no narrated calls in stderr:\n%s", stderr.String())
	}
	made := tracedCallKeys(string(trace))
	if onlyNarrated, onlyMade := multisetDiff(narrated, made); len(onlyNarrated)+len(onlyMade) > 0 {
		t.Errorf("narration and strace disagree for %s %s\nnarrated but not made (or made otherwise):\n  %s\nmade but not narrated:\n  %s\nnarration:\n%s\nstrace:\n%s",
			step, strings.Join(args, " "), strings.Join(onlyNarrated, "\n  "), strings.Join(onlyMade, "\n  "), stderr.String(), trace)
	}
	t.Logf("%d narrated calls match strace", len(narrated))
}

// parsedCall is one system call as C: name(args) = result.
type parsedCall struct {
	name   string
	args   []string
	result string
}

// ansiEscape matches terminal color codes, in case color was on.
var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;]*m")

// narratedCalls reads the narration: calls are indented by two spaces,
// reasons start with "# ". It keeps the traced calls, as comparison keys.
func narratedCalls(stderr string) []string {
	var keys []string
	for _, line := range strings.Split(ansiEscape.ReplaceAllString(stderr, ""), "\n") {
		if !strings.HasPrefix(line, "  ") {
			continue
		}
		c, ok := parseCall(stripComments(strings.TrimSpace(line)))
		if !ok {
			continue
		}
		if key := callKey(c); key != "" {
			keys = append(keys, key)
		}
	}
	return keys
}

// cComment matches a C comment, which narration uses for asides.
var cComment = regexp.MustCompile(`\s*/\*.*?\*/`)

func stripComments(s string) string { return cComment.ReplaceAllString(s, "") }

// straceLine is "PID rest" in strace -f -o output.
var straceLine = regexp.MustCompile(`^(\d+)\s+(.*)$`)

// tracedCallKeys reads strace -f -o output, joining a call that another
// process interrupted ("<unfinished ...>") with its "<... name resumed>".
func tracedCallKeys(trace string) []string {
	pending := map[string]string{}
	var keys []string
	for _, line := range strings.Split(trace, "\n") {
		m := straceLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		pid, rest := m[1], m[2]
		if strings.HasSuffix(rest, "<unfinished ...>") {
			pending[pid] = strings.TrimSuffix(rest, "<unfinished ...>")
			continue
		}
		if strings.HasPrefix(rest, "<... ") {
			_, after, ok := strings.Cut(rest, " resumed>")
			if !ok {
				continue
			}
			rest = strings.TrimRight(pending[pid], " ") + after
			delete(pending, pid)
		}
		c, ok := parseCall(rest)
		if !ok {
			continue
		}
		if key := callKey(c); key != "" {
			keys = append(keys, key)
		}
	}
	return keys
}

// parseCall splits `name(arg, arg) = result` at the top-level commas,
// minding quotes and brackets.
func parseCall(s string) (parsedCall, bool) {
	open := strings.IndexByte(s, '(')
	if open <= 0 || strings.ContainsAny(s[:open], " \t") {
		return parsedCall{}, false
	}
	c := parsedCall{name: s[:open]}
	depth, start, inQuote := 0, open+1, false
	for i := open; i < len(s); i++ {
		switch ch := s[i]; {
		case inQuote && ch == '\\':
			i++
		case ch == '"':
			inQuote = !inQuote
		case inQuote:
		case ch == '(' || ch == '[' || ch == '{':
			depth++
		case ch == ')' || ch == ']' || ch == '}':
			depth--
			if depth == 0 {
				if arg := strings.TrimSpace(s[start:i]); arg != "" || len(c.args) > 0 {
					c.args = append(c.args, arg)
				}
				rest := strings.TrimSpace(s[i+1:])
				if !strings.HasPrefix(rest, "=") {
					return parsedCall{}, false
				}
				c.result = strings.TrimSpace(strings.TrimPrefix(rest, "="))
				return c, true
			}
		case ch == ',' && depth == 1:
			c.args = append(c.args, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return parsedCall{}, false
}

// hexPointer is how strace shows an address it does not decode.
var hexPointer = regexp.MustCompile(`^0x[0-9a-f]+$`)

// flagSet matches C flags like MS_BIND|MS_REC.
var flagSet = regexp.MustCompile(`^[A-Z][A-Z0-9_]*(\|[A-Z0-9_]+)*$`)

// cloneFlags finds the flags of clone(flags=...) and clone3({flags=...}).
var cloneFlags = regexp.MustCompile(`flags=([A-Z0-9_|]+)`)

// callKey is the comparison key of a call, or "" if it is not compared:
// a call not traced, or a clone without CLONE_NEW* flags (Go's threads and
// its pidfd probe, which narration does not show).
func callKey(c parsedCall) string {
	traced := false
	for _, name := range tracedCalls {
		traced = traced || c.name == name
	}
	if !traced {
		return ""
	}
	if c.name == "clone" || c.name == "clone3" {
		var ns []string
		for _, m := range cloneFlags.FindAllStringSubmatch(strings.Join(c.args, ", "), -1) {
			for _, f := range strings.Split(m[1], "|") {
				if strings.HasPrefix(f, "CLONE_NEW") {
					ns = append(ns, f)
				}
			}
		}
		if len(ns) == 0 {
			return ""
		}
		sort.Strings(ns)
		return "clone(" + strings.Join(ns, "|") + ")"
	}
	args := make([]string, len(c.args))
	for i, a := range c.args {
		args[i] = normalizeArg(a)
		// mount(2) ignores the filesystem type of a bind, move, remount or
		// propagation change; strace then prints the pointer, narration "".
		if c.name == "mount" && i == 2 && args[i] == "<pointer>" {
			args[i] = `""`
		}
	}
	return fmt.Sprintf("%s(%s) = %s", c.name, strings.Join(args, ", "), normalizeResult(c.result))
}

// structPointer is an address as a struct member: {len=62, filter=0x7f...}.
var structPointer = regexp.MustCompile(`=0x[0-9a-f]+\b`)

// normalizeArg makes an argument comparable: strings unquoted and quoted
// again one way, flags as a sorted set, addresses as <pointer>.
func normalizeArg(a string) string {
	switch {
	case strings.HasPrefix(a, `"`):
		if s, err := strconv.Unquote(a); err == nil {
			return strconv.Quote(s)
		}
		return a
	case strings.HasPrefix(a, "{"):
		// The narration writes "..." for an address inside a struct.
		return structPointer.ReplaceAllString(a, "=...")
	case a == "~0U": // how C writes the largest unsigned int; strace prints the number
		return "4294967295"
	case hexPointer.MatchString(a):
		return "<pointer>"
	case a != "NULL" && flagSet.MatchString(a):
		flags := strings.Split(a, "|")
		sort.Strings(flags)
		return strings.Join(flags, "|")
	}
	return a
}

// normalizeResult keeps what both sides print the same way: "0", a
// value, or "-1 ERRNO" without the message, which strace capitalizes.
func normalizeResult(r string) string {
	fields := strings.Fields(r)
	if len(fields) >= 2 && fields[0] == "-1" {
		return "-1 " + fields[1]
	}
	if len(fields) > 0 {
		return fields[0]
	}
	return r
}

// multisetDiff returns what is in a more often than in b, and the reverse.
func multisetDiff(a, b []string) (onlyA, onlyB []string) {
	count := map[string]int{}
	for _, k := range a {
		count[k]++
	}
	for _, k := range b {
		count[k]--
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for n := count[k]; n > 0; n-- {
			onlyA = append(onlyA, k)
		}
		for n := count[k]; n < 0; n++ {
			onlyB = append(onlyB, k)
		}
	}
	return onlyA, onlyB
}

// TestParseCall pins the parsing of both sides on the lines seen so far.
func TestParseCall(t *testing.T) {
	tests := []struct {
		line string
		want string
	}{
		{`mount("", "/", "", MS_REC|MS_PRIVATE, NULL) = 0`, `mount("", "/", "", MS_PRIVATE|MS_REC, NULL) = 0`},
		{`mount("", "/", 0x145b636454cc, MS_REC|MS_PRIVATE, NULL) = 0`, `mount("", "/", "", MS_PRIVATE|MS_REC, NULL) = 0`},
		{`mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID|MS_NODEV, "mode=1777") = 0`, `mount("tmpfs", "/tmp", "tmpfs", MS_NODEV|MS_NOSUID, "mode=1777") = 0`},
		{`pivot_root(".", ".")              = 0`, `pivot_root(".", ".") = 0`},
		{`umount2(".", MNT_DETACH) = -1 EINVAL (Invalid argument)`, `umount2(".", MNT_DETACH) = -1 EINVAL`},
		{`clone(flags=CLONE_NEWNS|CLONE_NEWPID|SIGCHLD /* Go adds CLONE_VM|CLONE_VFORK */) = 16105`, `clone(CLONE_NEWNS|CLONE_NEWPID)`},
		{`clone(child_stack=NULL, flags=CLONE_VM|CLONE_PIDFD|CLONE_VFORK|CLONE_NEWPID|CLONE_NEWNS|SIGCHLD, parent_tid=[5]) = 16105`, `clone(CLONE_NEWNS|CLONE_NEWPID)`},
		{`clone3({flags=CLONE_VM|CLONE_PIDFD|CLONE_VFORK|CLONE_NEWNS, pidfd=0xc000, exit_signal=SIGCHLD, stack=NULL, stack_size=0}, 88) = 42`, `clone(CLONE_NEWNS)`},
		{`clone(child_stack=NULL, flags=CLONE_VM|CLONE_PIDFD|CLONE_VFORK, parent_tid=[4]) = 16104`, ``},
		{`sethostname("box", 3) = 0`, `sethostname("box", 3) = 0`},
		{`chdir("/") = 0`, ``},
	}
	for _, tt := range tests {
		c, ok := parseCall(stripComments(tt.line))
		if !ok {
			t.Errorf("parseCall(%q) failed", tt.line)
			continue
		}
		if diff := cmp.Diff(tt.want, callKey(c)); diff != "" {
			t.Errorf("callKey(%q) mismatch (-want +got):\n%s", tt.line, diff)
		}
	}
	trace := "7 mount(\"proc\", \"/proc\", \"proc\", MS_NOSUID, NULL <unfinished ...>\n8 --- SIGURG ---\n7 <... mount resumed>) = 0\n7 +++ exited with 0 +++\n"
	if diff := cmp.Diff([]string{`mount("proc", "/proc", "proc", MS_NOSUID, NULL) = 0`}, tracedCallKeys(trace)); diff != "" {
		t.Errorf("tracedCallKeys mismatch (-want +got):\n%s", diff)
	}
}

func TestMultisetDiff(t *testing.T) {
	onlyA, onlyB := multisetDiff([]string{"a", "b", "b", "c"}, []string{"b", "c", "c", "d"})
	if diff := cmp.Diff([]string{"a", "b"}, onlyA); diff != "" {
		t.Errorf("only in a (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"c", "d"}, onlyB); diff != "" {
		t.Errorf("only in b (-want +got):\n%s", diff)
	}
}
