package tests

// narration_compare_test.go holds the narration-truth harness's two sides
// to the same keys and matches them: see strace_test.go.

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// unnarratedCall is a call the runtime makes and does not narrate, and why.
type unnarratedCall struct {
	program string // "steps", "final" or "all"
	what    string // the calls, as docs/README.md lists them
	why     string
	match   func(c sysCall, ctx *traceContext) bool
}

// unnarrated is the one list of calls of the checked families that are
// made and not narrated. docs/README.md prints it (TestStraceListInDocs).
var unnarrated = []unnarratedCall{
	{"all", "clone with CLONE_THREAD", "the Go runtime's own threads",
		func(c sysCall, _ *traceContext) bool {
			return isClone(c) && strings.Contains(c.argString(), "CLONE_THREAD")
		}},
	{"all", "clone(CLONE_VM|CLONE_PIDFD|CLONE_VFORK) of a child that exits at once", "Go's check, at start-up, that clone can return a pidfd (os.checkPidfd)",
		func(c sysCall, _ *traceContext) bool {
			return isClone(c) && cloneFlagSet(c.argString()) == "CLONE_PIDFD|CLONE_VFORK|CLONE_VM"
		}},
	{"all", "ioctl reads of a terminal (TCGETS, TIOCGWINSZ, TIOCGPTN, TIOCGPGRP)", "reads: they change nothing (is it a terminal? which size?)",
		func(c sysCall, _ *traceContext) bool { return c.name == "ioctl" && isTerminalRead(c) }},
	{"all", "a call still waiting when its process was killed (box's init waiting in accept4 for a box exec that never came)", "it never returned: there is no result to print",
		func(c sysCall, _ *traceContext) bool { return strings.HasPrefix(c.result, "?") && c.name != "execve" }},
	{"final", "accept4 on the init's exec.sock that finds no connection (EAGAIN)", "the init trying its non-blocking listener before Go's poller waits for a connection: nothing was accepted",
		func(c sysCall, _ *traceContext) bool {
			return c.name == "accept4" && strings.Contains(c.result, "EAGAIN")
		}},
	{"final", "pidfd_send_signal with signal 0", "it sends nothing: it only asks whether a container's process still lives (a read)",
		func(c sysCall, _ *traceContext) bool {
			return c.name == "pidfd_send_signal" && len(c.args) > 1 && c.args[1] == "0"
		}},
	{"all", "socket, bind and sendto of a NETLINK_ROUTE socket whose first request is a read (RTM_GET*, or NLM_F_DUMP)", "reads: looking up or listing links, addresses or routes changes nothing",
		func(c sysCall, ctx *traceContext) bool { return ctx.isDumpSocket(c) }},
}

// traceContext is what the matcher knows about the traced processes.
type traceContext struct {
	opts       traceOptions
	dumpCalls  map[int]bool // trace lines of the calls of netlink dumps
	pivoted    map[int]bool // narrating group: its paths are inside the container
	rootfsTops []string
}

func (c sysCall) argString() string { return strings.Join(c.args, ", ") }

func isClone(c sysCall) bool { return c.name == "clone" || c.name == "clone3" }

var cloneFlagsArg = regexp.MustCompile(`flags=([A-Z0-9_|]+)`)
var exitSignalArg = regexp.MustCompile(`exit_signal=(SIG[A-Z0-9]+)`)

// cloneFlagSet is the sorted set of clone flags in s, the exit signal too.
func cloneFlagSet(s string) string {
	set := map[string]bool{}
	for _, m := range cloneFlagsArg.FindAllStringSubmatch(s, -1) {
		for _, f := range strings.Split(m[1], "|") {
			set[f] = true
		}
	}
	for _, m := range exitSignalArg.FindAllStringSubmatch(s, -1) {
		set[m[1]] = true
	}
	return sortedSet(set)
}

func sortedSet(set map[string]bool) string {
	var l []string
	for k := range set {
		if k != "" {
			l = append(l, k)
		}
	}
	sort.Strings(l)
	return strings.Join(l, "|")
}

var terminalReads = map[string]bool{"TCGETS": true, "TCGETS2": true, "TIOCGWINSZ": true, "TIOCGPTN": true, "TIOCGPGRP": true, "TIOCGSID": true, "FIONREAD": true}

// terminalReadKey matches the key of a narrated terminal read.
var terminalReadKey = regexp.MustCompile(`^ioctl\(\d+, (TCGETS|TCGETS2|TIOCGWINSZ|TIOCGPTN|TIOCGPGRP|TIOCGSID|FIONREAD)\b`)

func isTerminalRead(c sysCall) bool { return len(c.args) > 1 && terminalReads[c.args[1]] }

// isTerminal tells whether an fd annotation names a terminal.
func isTerminal(path string) bool {
	return strings.HasPrefix(path, "/dev/pts/") || path == "/dev/ptmx" || strings.HasPrefix(path, "/dev/tty") || path == "/dev/console" ||
		strings.HasSuffix(path, "/ptmx") || regexp.MustCompile(`/pts/\d+$`).MatchString(path)
}

func (ctx *traceContext) isDumpSocket(c sysCall) bool { return ctx.dumpCalls[c.start] }

// netlinkGet matches a request of type RTM_GET*: a read of one object.
var netlinkGet = regexp.MustCompile(`nlmsg_type=(RTM_GET[A-Z]+|0x12|0x16|0x1a)\b`)

// isDump tells whether a netlink message asks for a dump (NLM_F_DUMP is
// NLM_F_ROOT|NLM_F_MATCH, 0x300, which strace may print as a number).
func isDump(msg string) bool {
	return strings.Contains(msg, "NLM_F_DUMP") || strings.Contains(msg, "0x300") ||
		(strings.Contains(msg, "NLM_F_ROOT") && strings.Contains(msg, "NLM_F_MATCH"))
}

// findDumpSockets marks the socket, bind and sendto calls of each netlink
// socket whose first message is a dump: Go's syscall.NetlinkRIB, which
// net.Interfaces uses, and the runtime's own listings.
func (ctx *traceContext) findDumpSockets(calls []sysCall, group []int) {
	type key struct {
		pid int
		fd  string
	}
	opened := map[key][]int{}
	for i, c := range calls {
		c.pid = group[i] // the threads of a process share its descriptors
		switch c.name {
		case "socket":
			if len(c.args) > 0 && c.args[0] == "AF_NETLINK" {
				fd := normalizeResult(c.result)
				opened[key{c.pid, fd}] = []int{c.start}
			}
		case "bind":
			fd, _ := splitFD(c.args[0])
			if l, ok := opened[key{c.pid, fd}]; ok {
				opened[key{c.pid, fd}] = append(l, c.start)
			}
		case "sendto", "sendmsg":
			fd, ann := splitFD(c.args[0])
			if !strings.HasPrefix(ann, "NETLINK") || len(c.args) < 2 {
				continue
			}
			if isDump(c.args[1]) || netlinkGet.MatchString(c.args[1]) {
				ctx.dumpCalls[c.start] = true
				for _, i := range opened[key{c.pid, fd}] {
					ctx.dumpCalls[i] = true
				}
			}
			delete(opened, key{c.pid, fd})
		}
	}
}

// needsNarration tells whether a traced call belongs to the checked
// families: made by the runtime, it must be narrated.
func (ctx *traceContext) needsNarration(c sysCall, group int) bool {
	under := func(p string) bool {
		if ctx.pivoted[group] {
			return true
		}
		for _, r := range ctx.opts.roots {
			if r != "" && (p == r || strings.HasPrefix(p, strings.TrimSuffix(r, "/")+"/")) {
				return true
			}
		}
		return false
	}
	arg := func(i int) string {
		if i >= len(c.args) {
			return ""
		}
		s, ok := unquoteC(c.args[i])
		if !ok {
			return c.args[i]
		}
		return s
	}
	switch c.name {
	case "open":
		return strings.Contains(arg(1), "O_CREAT") && under(arg(0))
	case "openat":
		return strings.Contains(arg(2), "O_CREAT") && under(arg(1))
	case "mkdir", "mknod":
		return under(arg(0))
	case "mkdirat", "mknodat":
		return under(arg(1))
	case "symlink":
		return under(arg(1))
	case "symlinkat":
		return under(arg(2))
	case "rmdir":
		return strings.HasPrefix(arg(0), "/sys/fs/cgroup/") || under(arg(0))
	case "unlinkat":
		return strings.Contains(arg(2), "AT_REMOVEDIR") && (strings.HasPrefix(arg(1), "/sys/fs/cgroup/") || under(arg(1)))
	case "write":
		_, p := splitFD(arg(0))
		return strings.HasPrefix(p, "/sys/fs/cgroup/") || idMapFile.MatchString(p)
	case "sendto", "sendmsg":
		_, p := splitFD(arg(0))
		return strings.HasPrefix(p, "NETLINK")
	case "ioctl":
		_, p := splitFD(arg(0))
		return isTerminal(p)
	case "dup2", "dup3", "fchdir", "rename", "renameat", "renameat2", "fchownat", "fchmodat", "link", "linkat", "unlink":
		return false
	}
	return true
}

var idMapFile = regexp.MustCompile(`^/proc/\d+/(uid_map|gid_map|setgroups)$`)

// traceKey is the comparison key of a traced call.
func traceKey(c sysCall) string {
	switch c.name {
	case "unlinkat":
		if len(c.args) == 3 && strings.Contains(c.args[2], "AT_REMOVEDIR") && strings.HasPrefix(c.args[0], "AT_FDCWD") {
			return callKey("rmdir", c.args[1:2], c.result, "")
		}
	case "write":
		_, path := splitFD(c.args[0])
		if !strings.HasPrefix(path, "/") {
			break // a pipe or a socket: as C
		}
		data, _ := unquoteC(c.args[1])
		res := normalizeResult(c.result)
		if res == strconv.Itoa(len(data)) {
			res = "0"
		}
		return fmt.Sprintf("write %s <- %s = %s", path, strconv.Quote(data), res)
	case "openat", "open":
		// A write to a control file that fails at open is narrated as the write.
		flags := c.args[len(c.args)-1]
		if c.name == "openat" && len(c.args) >= 3 {
			flags = c.args[2]
		}
		_ = flags
	case "sendto", "sendmsg":
		if len(c.args) > 1 {
			if t := netlinkTypes.FindStringSubmatch(c.args[1]); t != nil {
				name := t[1]
				if n, ok := rtmNames[name]; ok {
					name = n
				}
				return "netlink " + name
			}
		}
	}
	return callKey(c.name, c.args, c.result, "")
}

var netlinkTypes = regexp.MustCompile(`nlmsg_type=([A-Z_]+|0x[0-9a-f]+)(?: /\*.*?\*/)?, nlmsg_flags=([A-Z_|0-9x]+)`)

// rtmNames are the rtnetlink message types strace may print as numbers.
var rtmNames = map[string]string{"0x10": "RTM_NEWLINK", "0x11": "RTM_DELLINK", "0x12": "RTM_GETLINK", "0x13": "RTM_SETLINK",
	"0x14": "RTM_NEWADDR", "0x15": "RTM_DELADDR", "0x16": "RTM_GETADDR", "0x18": "RTM_NEWROUTE", "0x19": "RTM_DELROUTE", "0x1a": "RTM_GETROUTE"}

// narratedKeys reads one narrated line into the keys of the calls it
// shows: usually one; "/* for each of N: A, B */" one per name in place of
// the placeholder; "/* child: a; b */" adds the calls the child made
// between clone and execve, which succeeded if the clone did.
func narratedKeys(line string) []string {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "read ") || line == "" {
		return nil
	}
	if strings.HasPrefix(line, "write /") {
		m := pseudoWrite.FindStringSubmatch(line)
		if m == nil {
			return []string{"unparsed: " + line}
		}
		data, _ := unquoteC(m[2])
		return []string{fmt.Sprintf("write %s <- %s = %s", m[1], strconv.Quote(data), normalizeResult(m[3]))}
	}
	if strings.HasPrefix(line, "RTM_") {
		f := strings.Fields(line)
		if len(f) < 2 {
			return []string{"unparsed: " + line}
		}
		return []string{"netlink " + f[0]}
	}
	line = strings.TrimSpace(leadingComment.ReplaceAllString(line, ""))
	var child []string
	if m := childComment.FindStringSubmatch(line); m != nil {
		child = splitTop(m[1], ';')
		line = strings.Replace(line, m[0], "", 1)
	}
	c, ok := parseCall(line)
	if !ok {
		return nil // not a call: a line of prose, a table
	}
	var keys []string
	if m := forEach.FindStringSubmatch(line); m != nil {
		for _, each := range strings.Split(m[1], ", ") {
			args := append([]string{}, c.args...)
			for i, a := range args {
				if a == "CAP" {
					args[i] = strings.TrimSpace(each)
				}
			}
			keys = append(keys, callKey(c.name, args, c.result, line))
		}
	} else {
		keys = append(keys, callKey(c.name, c.args, c.result, line))
	}
	for _, ch := range child {
		cc, ok := parseCall(strings.TrimSpace(ch))
		if !ok {
			keys = append(keys, "unparsed child call: "+ch)
			continue
		}
		if cc.result == "" {
			cc.result = "0"
		}
		keys = append(keys, callKey(cc.name, cc.args, cc.result, ""))
	}
	return keys
}

var (
	pseudoWrite    = regexp.MustCompile(`^write (\S+) <- (".*") = (.*)$`)
	childComment   = regexp.MustCompile(`\s*/\* child: (.*?) \*/`)
	leadingComment = regexp.MustCompile(`^/\*.*?\*/\s*`)
	forEach        = regexp.MustCompile(`/\* for each of \d+: (.*?) \*/`)
)

// splitTop splits s at sep outside quotes and brackets.
func splitTop(s string, sep byte) []string {
	var parts []string
	depth, start, inQuote := 0, 0, false
	for i := 0; i < len(s); i++ {
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
		case ch == sep && depth == 0:
			parts = append(parts, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if rest := strings.TrimSpace(s[start:]); rest != "" {
		parts = append(parts, rest)
	}
	return parts
}

func sortFlags(s string) string {
	f := strings.Split(s, "|")
	sort.Strings(f)
	return strings.Join(f, "|")
}

// callKey is the comparison key of a call, from either side. line is the
// whole narrated line, for a clone's comment naming what Go adds.
func callKey(name string, args []string, result, line string) string {
	args = append([]string{}, args...)
	if name == "execve" && len(args) == 3 {
		args[2] = envCount(args[2])
	}
	for i := range args {
		args[i], _ = splitFD(strings.TrimSpace(cComment.ReplaceAllString(args[i], "")))
	}
	at := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	switch name {
	case "mkdirat", "mknodat":
		if at(0) == "AT_FDCWD" {
			name, args = strings.TrimSuffix(name, "at"), args[1:]
		}
	case "symlinkat":
		if at(1) == "AT_FDCWD" {
			name, args = "symlink", []string{at(0), at(2)}
		}
	case "renameat", "renameat2":
		if at(0) == "AT_FDCWD" && at(2) == "AT_FDCWD" && (name == "renameat" || at(4) == "0") {
			name, args = "rename", []string{at(1), at(3)}
		}
	case "linkat":
		if at(0) == "AT_FDCWD" && at(2) == "AT_FDCWD" && at(4) == "0" {
			name, args = "link", []string{at(1), at(3)}
		}
	case "unlinkat":
		if at(0) == "AT_FDCWD" && at(2) == "0" {
			name, args = "unlink", args[1:2]
		}
	case "open":
		name, args = "openat", append([]string{"AT_FDCWD"}, args...)
	case "clone", "clone3":
		set := cloneFlagSet(strings.Join(args, ", "))
		if line != "" {
			// The narration names the flags Go adds in a comment.
			all := map[string]bool{}
			for _, f := range strings.Split(set, "|") {
				all[f] = true
			}
			for _, f := range cloneFlagWord.FindAllString(strings.SplitN(line, "/* child:", 2)[0], -1) {
				all[f] = true
			}
			set = sortedSet(all)
		}
		return fmt.Sprintf("clone(%s) = %s", set, pidResult(result))
	case "setsid":
		return "setsid() = " + pidResult(result)
	case "capset":
		return "capset(" + capSets(strings.Join(args, ", ")) + ") = " + normalizeResult(result)
	case "execve":
		if result == "" {
			result = "0"
		}
	case "prctl":
		// strace prints only the arguments an option uses; C passes zeros.
		for len(args) > 2 && args[len(args)-1] == "0" {
			args = args[:len(args)-1]
		}
	case "sendmsg", "sendto", "recvmsg":
		args = args[:1] // the message: compared for netlink only, by its type
	case "ioctl":
		if i := strings.LastIndex(at(1), " or "); i >= 0 {
			args[1] = args[1][i+4:] // strace: "SNDCTL_TMR_START or TCSETS"
		}
		if strings.HasPrefix(at(2), "{") {
			args = args[:2] // a struct: its fields are printed differently
		}
	}
	if name == "mknod" && len(args) == 3 && !strings.Contains(args[1], "S_IFCHR") && !strings.Contains(args[1], "S_IFBLK") {
		args = args[:2] // the device number means nothing for other types
	}
	for i, a := range args {
		args[i] = normalizeArg(a)
		// mount(2) ignores the filesystem type of a bind, move, remount or
		// propagation change; strace then prints the pointer, narration "".
		if name == "mount" && i == 2 && args[i] == "<pointer>" {
			args[i] = `""`
		}
	}
	return fmt.Sprintf("%s(%s) = %s", name, strings.Join(args, ", "), normalizeResult(result))
}

var cloneFlagWord = regexp.MustCompile(`\bCLONE_[A-Z_]+\b|\bSIG[A-Z]+\b`)

func pidResult(r string) string {
	r = normalizeResult(r)
	if n, err := strconv.Atoi(r); err == nil && n > 0 {
		return "<pid>"
	}
	return r
}

var capField = regexp.MustCompile(`(effective|permitted|inheritable)=((?:[a-z]+=)*)([^,}]*)`)

// capSets reads capset's data as sets: strace writes 1<<CAP_X|..., the
// narration effective=permitted=inheritable=CAP_X|...
func capSets(s string) string {
	sets := map[string]string{}
	for _, m := range capField.FindAllStringSubmatch(s, -1) {
		var caps []string
		for _, f := range strings.Split(m[3], "|") {
			f = strings.TrimPrefix(strings.TrimSpace(f), "1<<")
			if f != "" && f != "0" {
				caps = append(caps, f)
			}
		}
		sort.Strings(caps)
		names := append([]string{m[1]}, strings.Split(strings.TrimSuffix(m[2], "="), "=")...)
		for _, n := range names {
			if n != "" {
				sets[n] = strings.Join(caps, "|")
			}
		}
	}
	return fmt.Sprintf("effective=%s, permitted=%s, inheritable=%s", sets["effective"], sets["permitted"], sets["inheritable"])
}

var varsComment = regexp.MustCompile(`/\* (\d+) vars? \*/`)

// envCount is an environment as its number of variables: strace prints
// that, the narration may print them all.
func envCount(a string) string {
	if m := varsComment.FindStringSubmatch(a); m != nil {
		return m[1] + " vars"
	}
	if strings.HasPrefix(a, "[") {
		return strconv.Itoa(len(splitTop(strings.Trim(a, "[]"), ','))) + " vars"
	}
	return a
}

// hexPointer is how strace shows an address it does not decode.
var hexPointer = regexp.MustCompile(`^0x[0-9a-f]+$`)

// flagSet matches C flags like MS_BIND|MS_REC or S_IFREG|0644.
var flagSet = regexp.MustCompile(`^[A-Z0-9][A-Z0-9_]*(\|[A-Z0-9_]+)+$|^[A-Z][A-Z0-9_]*$`)

// structPointer is an address as a struct member: {len=62, filter=0x7f...}.
var structPointer = regexp.MustCompile(`=(0x[0-9a-f]+|\.\.\.)`)

// normalizeArg makes an argument comparable: strings unquoted and quoted
// again one way, flags as a sorted set, addresses as <pointer>.
func normalizeArg(a string) string {
	switch {
	case strings.HasPrefix(a, "makedev("):
		return makedevDecimal(a)
	case strings.HasPrefix(a, `"`):
		if s, ok := unquoteC(a); ok {
			return strconv.Quote(s)
		}
		return a
	case strings.HasPrefix(a, "{"):
		return structPointer.ReplaceAllString(a, "=<pointer>")
	case a == "~0U": // how C writes the largest unsigned int; strace prints the number
		return "4294967295"
	case hexPointer.MatchString(a) || a == "buf":
		// narration writes "buf" for an address the kernel fills in
		return "<pointer>"
	case a != "NULL" && flagSet.MatchString(a):
		// O_RDONLY is 0: strace names it, C may leave it out.
		if strings.Contains(a, "|") {
			a = strings.Replace(strings.Replace(a, "O_RDONLY|", "", 1), "|O_RDONLY", "", 1)
		}
		return sortFlags(a)
	}
	return a
}

// normalizeResult keeps what both sides print the same way: a value, or
// "-1 ERRNO" without the message, and no fd annotation.
func normalizeResult(r string) string {
	if m := annotatedNumber.FindStringSubmatch(r); m != nil {
		return m[1]
	}
	fields := strings.Fields(r)
	if len(fields) >= 2 && fields[0] == "-1" {
		return "-1 " + fields[1]
	}
	if len(fields) > 0 {
		v, _ := splitFD(fields[0])
		return v
	}
	return r
}

// annotatedNumber is a result with strace's <fd annotation>.
var annotatedNumber = regexp.MustCompile(`^(-?\d+)<`)

// narratedLine is one whole line of narration, from one process.
type narratedLine struct {
	text       string
	group      int
	start, end int // trace lines of the first and last write of it
}

// narrationGroups assigns each traced call to the process that narrates
// it, and reads the narration each wrote.
type groupedTrace struct {
	calls []sysCall
	group []int // per call: the narrating process, or -1 (a command's own)
	// printable is, per call, the trace line from which it can be printed
	// whole: the order narration prints calls in, whichever goroutine or
	// thread made them.
	printable []int
	lines     []narratedLine
}

func groupTrace(pt parsedTrace, opts traceOptions) groupedTrace {
	type birth struct {
		parent   int
		thread   bool
		cloneEnd int // trace line where the clone that made it returned
	}
	births := map[int]birth{}
	for _, c := range pt.calls {
		if !isClone(c) {
			continue
		}
		pid, err := strconv.Atoi(normalizeResult(c.result))
		if c.hostPid > 0 {
			pid = c.hostPid
		}
		if err == nil && pid > 0 {
			births[pid] = birth{c.pid, strings.Contains(c.argString(), "CLONE_THREAD"), c.end}
		}
	}
	group := map[int]int{} // pid: its narrating process (-1: foreign)
	var resolve func(pid int) int
	resolve = func(pid int) int {
		if g, ok := group[pid]; ok {
			return g
		}
		b, ok := births[pid]
		if !ok {
			group[pid] = pid // the first process, or one strace saw start late
			return pid
		}
		group[pid] = resolve(b.parent)
		return group[pid]
	}
	gt := groupedTrace{calls: pt.calls, group: make([]int, len(pt.calls)), printable: make([]int, len(pt.calls))}
	for i, c := range pt.calls {
		// A call can be printed once it returned; a child's before its
		// execve, once the clone returned in the parent, which prints it.
		// An execve from when it started: os/exec's Start returns, and the
		// parent goes on, at the exec point, before strace sees it return.
		gt.printable[i] = c.end
		if c.name == "execve" {
			gt.printable[i] = c.start
		}
		if b, ok := births[c.pid]; ok && !b.thread && b.cloneEnd > gt.printable[i] {
			gt.printable[i] = b.cloneEnd
		}
	}
	type bufKey struct {
		group int
		piped bool
	}
	buf := map[bufKey]*narratedLine{}
	relayed := map[string]int{} // lines narrated into a pipe, to be copied
	first := true
	for i, c := range pt.calls {
		g := resolve(c.pid)
		gt.group[i] = g
		if c.name == "execve" && normalizeResult(c.result) == "0" {
			path, _ := unquoteC(c.args[0])
			switch {
			case first:
				gt.group[i] = -1 // strace's own exec of the runtime
			case g < 0:
			case path == "/proc/self/exe" || filepath.Base(path) == filepath.Base(opts.binary),
				strings.HasPrefix(path, "/proc/self/fd/"): // box-init, run from its descriptor
				group[c.pid] = c.pid // a runtime again: it narrates for itself
			default:
				group[c.pid] = -1 // the command: its calls are its own
			}
			first = false
			continue
		}
		if c.name != "write" || g < 0 || len(c.args) < 2 {
			continue
		}
		fd, path := splitFD(c.args[0])
		n, err := strconv.Atoi(normalizeResult(c.result))
		if err != nil || n < 0 {
			continue // a write that failed or was restarted
		}
		// Narration goes to the stderr given, or into a pipe on fd 2 or 5
		// (box run -d's monitor and its init narrate to run, which copies
		// the text to its own stderr; the copy is not narration again).
		piped := strings.HasPrefix(path, "pipe:") && (fd == "2" || fd == "5")
		if !piped && (fd == "1" || !opts.isNarration(path)) {
			continue
		}
		data, _ := unquoteC(c.args[1])
		if n < len(data) {
			data = data[:n]
		}
		key := bufKey{g, piped}
		for data != "" {
			l := buf[key]
			if l == nil {
				l = &narratedLine{group: g, start: c.start}
				buf[key] = l
			}
			nl := strings.IndexByte(data, '\n')
			if nl < 0 {
				l.text += data
				break
			}
			l.text += data[:nl]
			l.end = c.end
			delete(buf, key)
			data = data[nl+1:]
			switch {
			case piped:
				relayed[l.text]++
			case relayed[l.text] > 0:
				relayed[l.text]--
				continue // a copy of a line narrated into a pipe
			}
			gt.lines = append(gt.lines, *l)
		}
	}
	return gt
}

// compareNarration matches narration and trace, process by process.
func compareNarration(pt parsedTrace, opts traceOptions) narrationReport {
	gt := groupTrace(pt, opts)
	ctx := &traceContext{opts: opts, dumpCalls: map[int]bool{}, pivoted: map[int]bool{}}
	ctx.findDumpSockets(gt.calls, gt.group)
	var rep narrationReport
	traced := map[int][]*tracedEntry{}
	narrated := map[int][]narratedEntry{}
	for i, c := range gt.calls {
		g := gt.group[i]
		if g < 0 || (c.name == "write" && opts.isNarration(splitFDPath(c))) {
			continue
		}
		e := &tracedEntry{key: traceKey(c), call: c, printable: gt.printable[i]}
		if ctx.needsNarration(c, g) {
			e.required = true
			for _, u := range unnarrated {
				if u.match(c, ctx) {
					e.required = false
				}
			}
		}
		if (c.name == "pivot_root" || c.name == "chroot") && normalizeResult(c.result) == "0" {
			ctx.pivoted[g] = true
		}
		if e.required {
			rep.traced++
		}
		// A call on the list need not be narrated, yet one that is must
		// match it: the network code narrates the netlink socket it opens
		// in the container's namespace, whose first request is a lookup.
		traced[g] = append(traced[g], e)
	}
	checked := map[string]bool{}
	for _, f := range checkedFamilies {
		checked[f] = true
	}
	var sums []summaryEntry
	lastExplain := map[int]int{}
	for _, l := range gt.lines {
		if strings.HasPrefix(l.text, "# ") {
			lastExplain[l.group] = l.end
		}
		if !strings.HasPrefix(l.text, "  ") {
			continue
		}
		if s, ok := parseSummary(l, lastExplain[l.group]); ok {
			sums = append(sums, s)
			continue
		}
		for _, k := range narratedKeys(l.text) {
			name := k
			if i := strings.IndexAny(k, "( "); i > 0 {
				name = k[:i]
			}
			if !checked[name] && name != "netlink" && !strings.HasPrefix(k, "unparsed") {
				continue // a call strace was not asked to show (statfs, poll)
			}
			if name == "ioctl" && terminalReadKey.MatchString(k) {
				continue // a read, on the list: made and not matched
			}
			narrated[l.group] = append(narrated[l.group], narratedEntry{k, l, strings.Contains(l.text, "every thread")})
			rep.narrated++
		}
	}
	for _, s := range sums {
		n, bad := s.claim(traced)
		rep.narrated += n
		rep.mismatches = append(rep.mismatches, bad...)
	}
	var groups []int
	for g := range traced {
		groups = append(groups, g)
	}
	for g := range narrated {
		if _, ok := traced[g]; !ok {
			groups = append(groups, g)
		}
	}
	sort.Ints(groups)
	for _, g := range groups {
		// Goroutines make calls at once (a port proxy's): each prints its
		// call whole once it returned, so calls are in the order they
		// returned, not the order they started.
		sort.SliceStable(traced[g], func(a, b int) bool { return traced[g][a].printable < traced[g][b].printable })
		rep.mismatches = append(rep.mismatches, alignGroup(traced[g], narrated[g])...)
	}
	return rep
}

// alignGroup matches one process's narrated calls with the calls it made,
// in order: the longest common subsequence of the two lists of keys, so one
// stray call cannot push the rest out of step. What is left over are the
// mismatches: a narrated call made elsewhere in the order is out of order;
// one not made at all is named with the calls of the same name left.
func alignGroup(ts []*tracedEntry, ns []narratedEntry) []string {
	n, m := len(ns), len(ts)
	// lcs[i][j] is the longest match of ns[i:] and ts[j:].
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			switch {
			case ns[i].key == ts[j].key:
				lcs[i][j] = lcs[i+1][j+1] + 1
			case lcs[i+1][j] >= lcs[i][j+1]:
				lcs[i][j] = lcs[i+1][j]
			default:
				lcs[i][j] = lcs[i][j+1]
			}
		}
	}
	var bad []string
	var unmatched []narratedEntry
	type pair struct {
		n narratedEntry
		t *tracedEntry
	}
	var pairs []pair
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case ns[i].key == ts[j].key && !ts[j].required && lcs[i][j+1] == lcs[i][j]:
			j++ // a call on the unnarrated list: a later one may be this line's
		case ns[i].key == ts[j].key:
			ts[j].matched = true
			pairs = append(pairs, pair{ns[i], ts[j]})
			if ts[j].call.name != "execve" && ts[j].call.result != "?" && ns[i].line.end < ts[j].call.end {
				bad = append(bad, "printed before the call returned: "+ns[i].key)
			}
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			unmatched = append(unmatched, ns[i])
			i++
		default:
			j++
		}
	}
	unmatched = append(unmatched, ns[i:]...)
	for _, e := range ns {
		if e.everyThread {
			for _, t := range ts {
				if t.key == e.key {
					t.matched = true
				}
			}
		}
	}
	// A call out of the process's order is still in order if it is in the
	// order of its own thread: goroutines that run at once (a port proxy's)
	// print their lines as their calls return, between the others' lines.
	inThreadOrder := func(u narratedEntry, t *tracedEntry) bool {
		if t.call.end > u.line.end {
			return false
		}
		for _, p := range pairs {
			if p.t.call.pid == t.call.pid && (p.n.line.end < u.line.end) != (p.t.call.start < t.call.start) {
				return false
			}
		}
		return true
	}
	for _, u := range unmatched {
		where := "narrated, but not made so (same name: " + closest(ts, u.key) + ")"
		for _, t := range ts {
			if !t.matched && t.key == u.key {
				t.matched = true
				if inThreadOrder(u, t) {
					pairs = append(pairs, pair{u, t})
					where = ""
				} else {
					where = "narrated out of order"
				}
				break
			}
		}
		if where != "" {
			bad = append(bad, where+": "+u.key)
		}
	}
	for _, t := range ts {
		if t.required && !t.matched {
			bad = append(bad, "made, not narrated: "+t.key)
		}
	}
	return bad
}

// isNarration tells whether writes to path are narration: the stderr
// given, or one of alsoNarration.
func (o traceOptions) isNarration(path string) bool {
	if path == "" {
		return false
	}
	if path == o.stderrPath {
		return true
	}
	for _, p := range o.alsoNarration {
		if ok, _ := filepath.Match(p, path); ok {
			return true
		}
	}
	return false
}

func splitFDPath(c sysCall) string {
	if len(c.args) == 0 {
		return ""
	}
	_, p := splitFD(c.args[0])
	return p
}

// closest lists the traced calls of the same name, to show what differs.
func closest(ts []*tracedEntry, key string) string {
	name := key
	if i := strings.IndexAny(key, "( "); i > 0 {
		name = key[:i+1]
	}
	var same []string
	for _, t := range ts {
		if strings.HasPrefix(t.key, name) && !t.matched {
			same = append(same, t.key)
		}
	}
	if len(same) > 3 {
		same = same[:3]
	}
	return strings.Join(same, "; ")
}

// tracedEntry is a call one narrating process made.
type tracedEntry struct {
	key       string
	call      sysCall
	printable int // see groupedTrace.printable
	required  bool
	matched   bool
}

// narratedEntry is a call one narrating process narrated.
type narratedEntry struct {
	key  string
	line narratedLine
	// everyThread: the line says the call was made on every thread of the
	// process, so each thread's call of that key is this line's.
	everyThread bool
}

// splitLines finds lines of the captured stderr that no process wrote
// whole: one process's line split by another's.
func splitLines(stderr string, pt parsedTrace, opts traceOptions) []string {
	whole := map[string]bool{}
	for _, l := range groupTrace(pt, opts).lines {
		whole[l.text] = true
	}
	var bad []string
	for _, l := range strings.Split(stderr, "\n") {
		if (strings.HasPrefix(l, "  ") || strings.HasPrefix(l, "# ")) && !whole[l] {
			bad = append(bad, "line split by another process's output: "+strconv.Quote(l))
		}
	}
	return bad
}

// summaryLine is a narrated line that stands for many calls under one
// directory, counted by name, as step 07 narrates a layer's copy and the
// removal of a tree: /* under "DIR": 27 mkdir, 20 openat(O_CREAT) */.
var summaryLine = regexp.MustCompile(`^/\* under ("(?:[^"\\]|\\.)*"): (\d+ [a-z]+(?:\(O_CREAT\))?(?:, \d+ [a-z]+(?:\(O_CREAT\))?)*) \*/$`)

// summaryEntry is one summary line: it stands for every call that
// succeeded of the names it counts, made at or below dir by its process
// after the explain line before it and before it was printed; their
// number must be the line's.
type summaryEntry struct {
	dir    string
	counts map[string]int
	line   narratedLine
	from   int // trace line where the explain line before it ended
}

func parseSummary(l narratedLine, from int) (summaryEntry, bool) {
	m := summaryLine.FindStringSubmatch(strings.TrimSpace(l.text))
	if m == nil {
		return summaryEntry{}, false
	}
	dir, _ := unquoteC(m[1])
	s := summaryEntry{dir: dir, counts: map[string]int{}, line: l, from: from}
	for _, part := range strings.Split(m[2], ", ") {
		n, name, _ := strings.Cut(part, " ")
		s.counts[name], _ = strconv.Atoi(n)
	}
	return s, true
}

// summaryName is the name a summary counts a call under, and its path.
func summaryName(c sysCall) (name, path string) {
	arg := func(i int) string {
		if i >= len(c.args) {
			return ""
		}
		s, _ := unquoteC(c.args[i])
		return s
	}
	// at resolves a path relative to a directory descriptor.
	at := func(dirfd, p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		_, dir := splitFD(dirfd)
		return filepath.Join(dir, p)
	}
	flags := func(i int) string {
		if i < len(c.args) {
			return c.args[i]
		}
		return ""
	}
	switch c.name {
	case "mkdir", "mknod", "rmdir", "unlink":
		return c.name, arg(0)
	case "mkdirat", "mknodat":
		return strings.TrimSuffix(c.name, "at"), at(c.args[0], arg(1))
	case "open":
		if strings.Contains(flags(1), "O_CREAT") {
			return "openat(O_CREAT)", arg(0)
		}
	case "openat":
		if strings.Contains(flags(2), "O_CREAT") {
			return "openat(O_CREAT)", at(c.args[0], arg(1))
		}
	case "symlink":
		return "symlink", arg(1)
	case "symlinkat":
		return "symlink", at(flags(1), arg(2))
	case "link":
		return "link", arg(1)
	case "linkat":
		return "link", at(flags(2), arg(3))
	case "unlinkat":
		if strings.Contains(flags(2), "AT_REMOVEDIR") {
			return "rmdir", at(c.args[0], arg(1))
		}
		return "unlink", at(c.args[0], arg(1))
	case "fchownat", "fchmodat":
		return c.name, at(c.args[0], arg(1))
	}
	return "", ""
}

// claim takes the calls the summary stands for out of traced, and says
// where their number is not the line's.
func (s summaryEntry) claim(traced map[int][]*tracedEntry) (int, []string) {
	got := map[string]int{}
	var kept []*tracedEntry
	for _, t := range traced[s.line.group] {
		name, p := summaryName(t.call)
		_, counted := s.counts[name]
		ok := !strings.HasPrefix(normalizeResult(t.call.result), "-1") && t.call.result != "?"
		if counted && ok && t.call.end > s.from && t.call.end <= s.line.end && (p == s.dir || strings.HasPrefix(p, s.dir+"/")) {
			got[name]++
			continue
		}
		kept = append(kept, t)
	}
	traced[s.line.group] = kept
	var bad []string
	total := 0
	for name, n := range s.counts {
		total += got[name]
		if got[name] != n {
			bad = append(bad, fmt.Sprintf("summary says %d %s under %q, strace saw %d", n, name, s.dir, got[name]))
		}
	}
	return total, bad
}

// makedevDecimal writes a device number as makedev(MAJOR, MINOR) in
// decimal: strace prints hex (makedev(0x1, 0x3)), C code decimal.
func makedevDecimal(a string) string {
	inner := strings.TrimSuffix(strings.TrimPrefix(a, "makedev("), ")")
	parts := strings.Split(inner, ",")
	if len(parts) != 2 {
		return a
	}
	var nums []string
	for _, p := range parts {
		n, err := strconv.ParseUint(strings.TrimSpace(p), 0, 32)
		if err != nil {
			return a
		}
		nums = append(nums, strconv.FormatUint(n, 10))
	}
	return "makedev(" + nums[0] + ", " + nums[1] + ")"
}
