package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The chapters in docs/ show real output, and these tests keep it real.
//
// An output block is an HTML comment naming commands, then a fenced block:
//
//	<!-- output: 02-pid-ns run --rootfs $ROOTFS -- sh -c 'echo $$' -->
//	```
//	$ 02-pid-ns run --rootfs $ROOTFS -- sh -c 'echo $$'
//	...what the commands print...
//	```
//
// The comment may span lines, one command per line (a line ending in a
// backslash goes on). TestDocs runs the commands of every block of a
// chapter, in order, in one bash, as a learner would type them in the repository's
// directory after `export PATH=$PWD/bin:$PATH ROOTFS=$PWD/rootfs`: step
// names and `box` are the built binaries, $ROOTFS is a copy of the rootfs
// private to the chapter (blocks may write to it), and the working directory
// holds bin/ and rootfs/. Stdout and stderr share one pipe, so the block
// reads as a terminal shows it: narration, then the command's output. The
// runs are quiet about color (NO_COLOR=1) and say TERM=xterm, like the
// terminal of `docker run -it`.
//
// A block whose output depends on the host's cgroup version names the
// version after the fence, as in "```text cgroup-v2": TestDocs runs and
// checks only the blocks of the host's version (and those that name
// none), and leaves the others out of the chapter's script. The cgroup v2
// blocks are checked in the cgroup v2 machine on every run, whatever the
// host (TestDocsCgroupV2VM); a chapter shows the v2 block first, then the
// v1 one, for the same commands.
//
// Host-specific values are normalized before comparing (see normalizeOutput):
// the chapter's directory prints as $PWD and its rootfs as $ROOTFS, and
// host PIDs as <pid>. -update rewrites the blocks from the runs.

// docsDir holds the chapters, relative to the repo root.
const docsDir = "docs"

// outputBlock is one <!-- output: ... --> comment and the fence after it.
type outputBlock struct {
	line     int      // 1-based line of the comment, for messages
	commands []string // logical command lines, continuations joined by "\n"
	indent   string   // what comes before the comment on its line (in a list item)
	start    int      // byte offset of the fence's first content line
	end      int      // byte offset of the closing fence line
	output   string   // the fence's content, unindented, without the final newline
	cgroups  []int    // the cgroup versions whose output the block shows ("cgroup-v2" after the fence); none: any
}

// cgroupWord names a cgroup version after a block's fence.
var cgroupWord = map[string]int{"cgroup-v1": 1, "cgroup-v2": 2}

// runsOn tells whether b is run and checked on a host of cgroup version v.
func (b outputBlock) runsOn(v int) bool {
	return len(b.cgroups) == 0 || slices.Contains(b.cgroups, v)
}

// blocksOn are the blocks a host of cgroup version v runs and checks.
func blocksOn(blocks []outputBlock, v int) []outputBlock {
	var on []outputBlock
	for _, b := range blocks {
		if b.runsOn(v) {
			on = append(on, b)
		}
	}
	return on
}

var outputComment = regexp.MustCompile(`(?s)<!-- output:(.*?)-->[ \t]*\n`)

// parseOutputBlocks finds the output blocks of a chapter. A comment not
// followed by a fence gets an empty one on -update, and fails otherwise.
// In a list item the comment and its fence are indented alike.
func parseOutputBlocks(text string) ([]outputBlock, error) {
	var blocks []outputBlock
	for _, m := range outputComment.FindAllStringSubmatchIndex(text, -1) {
		lineStart := strings.LastIndexByte(text[:m[0]], '\n') + 1
		b := outputBlock{line: 1 + strings.Count(text[:m[0]], "\n"), indent: text[lineStart:m[0]]}
		if strings.TrimSpace(b.indent) != "" {
			continue // not a comment of its own line
		}
		b.commands = splitCommands(text[m[2]:m[3]])
		if len(b.commands) == 0 {
			return nil, fmt.Errorf("line %d: output comment names no command", b.line)
		}
		rest := text[m[1]:]
		if !strings.HasPrefix(rest, b.indent+"```") {
			b.start, b.end = -1, m[1]
			blocks = append(blocks, b)
			continue
		}
		open := strings.IndexByte(rest, '\n')
		if open < 0 {
			return nil, fmt.Errorf("line %d: fence after the output comment is not closed", b.line)
		}
		for _, word := range strings.Fields(rest[len(b.indent)+3 : open]) {
			if v, ok := cgroupWord[word]; ok {
				b.cgroups = append(b.cgroups, v)
			}
		}
		b.start = m[1] + open + 1
		close := strings.Index("\n"+text[b.start:], "\n"+b.indent+"```")
		if close < 0 {
			return nil, fmt.Errorf("line %d: fence after the output comment is not closed", b.line)
		}
		b.end = b.start + close
		var lines []string
		for _, l := range strings.Split(strings.TrimSuffix(text[b.start:b.end], "\n"), "\n") {
			lines = append(lines, strings.TrimPrefix(l, b.indent))
		}
		b.output = strings.Join(lines, "\n")
		blocks = append(blocks, b)
	}
	return blocks, nil
}

// indentLines puts indent before every non-empty line of s.
func indentLines(s, indent string) string {
	if indent == "" {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = indent + l
		}
	}
	return strings.Join(lines, "\n")
}

// splitCommands turns the comment's text into logical command lines.
func splitCommands(s string) []string {
	var cmds []string
	var cur []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" && len(cur) == 0 {
			continue
		}
		cur = append(cur, l)
		if !strings.HasSuffix(l, `\`) {
			cmds = append(cmds, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	if len(cur) > 0 {
		cmds = append(cmds, strings.Join(cur, "\n"))
	}
	return cmds
}

// promptLines is how the commands show at the top of a block: "$ " before
// the first line of each, "> " before its continuations, as bash prompts.
func promptLines(commands []string) string {
	var b strings.Builder
	for _, c := range commands {
		for i, l := range strings.Split(c, "\n") {
			if i == 0 {
				b.WriteString("$ " + l + "\n")
			} else {
				b.WriteString("> " + l + "\n")
			}
		}
	}
	return b.String()
}

// blockSeparator is printed before each block's commands, so the output
// of one bash running a whole chapter can be cut into blocks.
const blockSeparator = "<<<box-docs-block>>>"

// chapterScript is the bash script that runs the blocks of a chapter as
// typed, in one shell as a learner would, so a later block may use a job
// or variable of an earlier one. Before each block it prints
// blockSeparator; before each command, its prompt lines. After each
// command it records $! (the PID of a command started with &) on fd 3, so
// the PID can be normalized. $? is carried from one command to the next,
// so a line may test the one before.
func chapterScript(blocks [][]string) string {
	var b strings.Builder
	b.WriteString("__box_status=0\n__box_pids=\n__box_return() { return \"$1\"; }\n")
	for _, commands := range blocks {
		fmt.Fprintf(&b, "printf '%%s\\n' %s\n", shellQuote(blockSeparator))
		for _, c := range commands {
			fmt.Fprintf(&b, "printf '%%s' %s\n", shellQuote(promptLines([]string{c})))
			b.WriteString("__box_return \"$__box_status\"\n")
			b.WriteString(c + "\n")
			b.WriteString("__box_status=$?\n__box_pids=\"$__box_pids $!\"\n")
		}
	}
	b.WriteString("printf '%s\\n' \"$__box_pids\" >&3\n")
	return b.String()
}

// shellQuote quotes s for bash, in single quotes.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// docsWorkdir is the directory a chapter's commands run in, standing for
// the learner's checkout: bin/ with the built binaries, rootfs/ a private
// copy of the rootfs.
type docsWorkdir struct {
	dir, rootfs, bin string
}

// newDocsWorkdir prepares the directory of one chapter. bin/ links each
// step's binary under its own name and final's as box, as make build does.
func newDocsWorkdir(t *testing.T) docsWorkdir {
	t.Helper()
	rootfs := rootfsCopy(t)
	w := docsWorkdir{dir: filepath.Dir(rootfs), rootfs: rootfs}
	// Searchable by everyone, like a checkout in a home directory that a
	// learner opened up (chapter 05): root in a user namespace is another
	// host uid, which must be able to reach the rootfs and the volumes.
	if err := os.Chmod(w.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w.bin = filepath.Join(w.dir, "bin")
	if err := os.Mkdir(w.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, step := range harness.steps {
		name := step
		if step == finalStep {
			name = "box"
		}
		if err := os.Symlink(filepath.Join(harness.binDir, step), filepath.Join(w.bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	// box-runc, next to box as make build puts it (docs/oci.md).
	if err := os.Symlink(filepath.Join(harness.binDir, boxRuncName), filepath.Join(w.bin, boxRuncName)); err != nil {
		t.Fatal(err)
	}
	return w
}

// binaryNames finds the programs a script names, so only those get built
// (a step that does not compile fails the chapters that use it).
// A step is named anywhere (cp bin/01-chroot ...); box only where a
// command starts, since it is also a hostname and a directory.
var binaryNames = regexp.MustCompile(`(?m)(?:^|[\s/;&|(])(0\d-[a-z0-9-]+)\b|(?:^|[;&|(]\s*|\$\(\s*|\bsetpriv \S+ \S+ \S+ )(box)\b`)

// toolsUsed are host tools a chapter may use that a bare machine may lack.
var toolsUsed = []string{"nsenter", "setpriv", "strace", "unshare", "ipcmk", "ipcrm"}

// boxPrologue starts the script of a chapter that runs box (see runChapter).
const boxPrologue = "mount -t tmpfs -o mode=0755 box-docs /var/lib && mkdir /var/lib/box &&\n" +
	"mount -t tmpfs -o mode=0755 box-docs /run && mkdir /run/box || exit 1\n"

// chapterTimeout bounds the run of one chapter's blocks, so a hung
// command fails its chapter rather than the whole package; it is not a
// speed check.
const chapterTimeout = 5 * time.Minute

// runChapter runs the commands of every block in w, in one bash, and
// returns what a terminal would show for each block, normalized.
func runChapter(t *testing.T, w docsWorkdir, blocks []outputBlock) []string {
	t.Helper()
	var all []string
	var commands [][]string
	for _, b := range blocks {
		all = append(all, b.commands...)
		commands = append(commands, b.commands)
	}
	script := strings.Join(all, "\n")
	usesBox := false
	for _, m := range binaryNames.FindAllStringSubmatch(script, -1) {
		step := m[1]
		if m[2] == "box" {
			step, usesBox = finalStep, true
		}
		if stepIndex(step) < 0 {
			t.Fatalf("the chapter runs %s, which is not a step of this tree", step)
		}
		binary(t, step)
	}
	for _, tool := range toolsUsed {
		if regexp.MustCompile(`\b` + tool + `\b`).MatchString(script) {
			requireTool(t, tool)
		}
	}
	release := hostMounts.share(t)
	defer release()

	ctx, cancel := context.WithTimeout(context.Background(), chapterTimeout)
	defer cancel()
	pids, pidsWriter, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pids.Close()
	// The script is a file, not -c: ps inside a container must not find the
	// commands in bash's own command line.
	scriptFile := filepath.Join(t.TempDir(), "chapter.sh")
	prologue := ""
	if usesBox {
		// box keeps images in /var/lib/box and state in /run/box, as a
		// learner's does. The chapter gets its own, empty ones: tmpfs
		// mounts in a mount namespace of its own (Unshareflags below),
		// which go away with it.
		prologue = boxPrologue
	}
	if err := os.WriteFile(scriptFile, []byte(prologue+chapterScript(commands)), 0o644); err != nil {
		t.Fatal(err)
	}
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
	cmd.Stdout, cmd.Stderr = &out, &out // one pipe, as a terminal interleaves them
	cmd.ExtraFiles = []*os.File{pidsWriter}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if usesBox {
		// os/exec makes the new namespace's mounts private (MS_REC|
		// MS_PRIVATE), so nothing mounted in it reaches the host.
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
	}
	// Kill the whole group, containers started with & included.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pidsWriter.Close()
	var recorded bytes.Buffer
	readDone := make(chan struct{})
	go func() {
		_, _ = recorded.ReadFrom(pids)
		close(readDone)
	}()
	err = cmd.Wait()
	// Whatever the chapter left running in the background goes with it.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-readDone
	if ctx.Err() != nil {
		t.Fatalf("still running after %v, killed; output so far:\n%s", chapterTimeout, out.String())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) {
		t.Fatal(err)
	}
	// A learner runs every chapter on one rootfs: what a chapter leaves
	// in it shows in the transcripts of the chapters after it.
	if names, err := treeNames(w.rootfs); err != nil {
		t.Error(err)
	} else if diff := cmp.Diff(shared.names, names); diff != "" {
		t.Errorf("the chapter leaves its rootfs changed; add the commands that undo it (-before +after):\n%s", diff)
	}
	text := normalizeOutput(out.String(), outputPaths{pwd: w.dir, rootfs: w.rootfs, ownCgroups: docsCgroupDirs()}, strings.Fields(recorded.String()))
	parts := strings.Split(text, blockSeparator+"\n")
	if len(parts) != len(blocks)+1 {
		t.Fatalf("the chapter's script printed %d block separators, want %d; output:\n%s", len(parts)-1, len(blocks), text)
	}
	if strings.TrimSpace(parts[0]) != "" {
		t.Errorf("output before the first block: %q", parts[0])
	}
	outputs := parts[1:]
	for i := range outputs {
		outputs[i] = strings.TrimRight(outputs[i], "\n")
	}
	return outputs
}

// outputPaths are the paths of the run that a learner's machine spells
// differently.
type outputPaths struct {
	pwd, rootfs string
	// ownCgroups are the cgroup directories the runs start in, like
	// /sys/fs/cgroup/memory/some/where: a runtime makes its containers'
	// cgroups below them, and where they are depends on the machine.
	ownCgroups []docsCgroup
}

// docsCgroup is a cgroup directory and the root of its hierarchy.
type docsCgroup struct {
	dir, hierarchy string
}

// docsCgroupDirs lists the directories under /sys/fs/cgroup of this
// process's cgroups (proc(5), /proc/self/cgroup), which the commands of a
// chapter inherit, leaving out the roots, which need no placeholder.
func docsCgroupDirs() []docsCgroup {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	return docsCgroupDirsOf(string(b))
}

// docsCgroupDirsOf is docsCgroupDirs for a process whose /proc/PID/cgroup
// says own.
func docsCgroupDirsOf(own string) []docsCgroup {
	var dirs []docsCgroup
	for _, line := range strings.Split(strings.TrimSpace(own), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || f[2] == "/" || f[2] == "" {
			continue
		}
		if f[1] == "" { // cgroup v2: one tree
			dirs = append(dirs, docsCgroup{"/sys/fs/cgroup" + f[2], "/sys/fs/cgroup"})
			continue
		}
		for _, ctrl := range strings.Split(f[1], ",") {
			root := "/sys/fs/cgroup/" + strings.TrimPrefix(ctrl, "name=")
			dirs = append(dirs, docsCgroup{root + f[2], root})
		}
	}
	// Longest first, so a path is not replaced inside a longer one.
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i].dir) > len(dirs[j].dir) })
	return dirs
}

var (
	// cloneResult is the PID the runtime's clone narration reports (clone3
	// on cgroup v2, with CLONE_INTO_CGROUP).
	cloneResult = regexp.MustCompile(`(?m)^\s*clone3?\(.*\) = (\d+)$`)
	// stracePID is strace -f's prefix for a call of another process.
	stracePID = regexp.MustCompile(`\[pid +\d+\]`)
	// straceResult is a line of strace, which pads the call to a column
	// before " = result": the padding depends on the length of the paths.
	straceResult = regexp.MustCompile(`(?m)^((?:\[pid <pid>\] )?[a-z_0-9]+\(.*\)) +(= .*)$`)
	// psHeader starts a table of processes from ps: its PID column is
	// followed by rows that start with a PID.
	psHeader = regexp.MustCompile(`^\s*PID\s`)
	psRow    = regexp.MustCompile(`^(\s*)(\d+)(\s.*)?$`)
	// bashKilled is how bash running a script reports a command that a
	// signal killed, naming the script, its line and the PID; bash at a
	// terminal prints only the signal's description.
	bashKilled = regexp.MustCompile(`(?m)^\S+: line \d+: +\d+ ([A-Z][a-z]+(?: [a-z]+)*)(?: \(core dumped\))? {2,}.*$`)
	// containerID finds the random id a runtime names a container with
	// (step 04 on): its default hostname, the host end of its veth, its
	// cgroup.
	containerID = regexp.MustCompile(`(?:\bbox-?|Name the container )([0-9a-f]{6})\b`)
	// vethAlias is the alias a runtime labels its host end with: its PID,
	// start time and PID namespace.
	vethAlias = regexp.MustCompile(`pid=(?:\d+|<pid>) start=\d+( pidns=pid:\[\d+\])?`)
	// hostIfindex is the index of an interface in the host's network
	// namespace, which depends on how many the host made before; inside a
	// new namespace lo is 1 and eth0 2, every time.
	hostIfindex = regexp.MustCompile(`(?m)(index=|^)\d+( /\* box|: box)|@if\d+`)
	// cgroupRead is a counter the runtime reads from a cgroup file, and
	// cgroupUsage the sentence it sums them up in (step 06 on): how much
	// memory and CPU time a run takes differs from run to run.
	cgroupRead = regexp.MustCompile(`(?m)^(\s+read .+ -> )"\d+((?:\\n)?)"$`) // box-runc shows the file's newline
	// cgroupUsec is a CPU time in v2's cpu.stat, read whole.
	cgroupUsec  = regexp.MustCompile(`((?:usage|user|system)_usec) \d+`)
	cgroupUsage = regexp.MustCompile(`peak memory \S+ \(\d+ bytes\)|CPU time [0-9.]+[µmn]?s|peak processes \d+|reached \d+ times|throttled periods \d+`)
	// gluedCall is a narrated call whose result a child process pushed
	// down: the runtime prints the call, makes it, and prints " = result",
	// and a call that starts or releases the container process (clone,
	// the write to the sync pipe) lets the container print in between.
	// The runtime should order the two; until it does, joinResults puts
	// the result back on its call, so the book shows the lines in the
	// order they began, as they usually come.
	gluedCall    = regexp.MustCompile(`^(  .*\))(# .*)$`)
	lonelyResult = regexp.MustCompile(`^ = .*$`)
	// containerDir is the random name of a container's directory in an
	// image store (step 07 on), storeTmp a temporary name there, and
	// digest a sha256, which names a layer by its content: a layer of the
	// rootfs depends on the busybox the machine has.
	containerDir = regexp.MustCompile(`/containers/([0-9a-f]{12})\b`)
	storeTmp     = regexp.MustCompile(`/tmp/\d+-\d+-[a-z]+-[0-9a-f]+`)
	digest       = regexp.MustCompile(`\b[0-9a-f]{64}\b`)
	shortDigest  = regexp.MustCompile(`\bsha256:[0-9a-f]{12}\b`)
	shortID      = regexp.MustCompile(`\b[0-9a-f]{12}\b`)
	// pidColumn is a normalized PID right-aligned at the start of a line.
	pidColumn = regexp.MustCompile(`(?m)^ +<pid>`)
)

// replacePID puts <pid> for the number pid where it stands as a word, but
// not where it is part of an address, a version or a port (10.200.0.0/30,
// 1.200, :200): a host PID may be any number the transcript also holds.
func replacePID(s, pid string) string {
	var b strings.Builder
	last := 0
	for _, m := range regexp.MustCompile(`\b`+pid+`\b`).FindAllStringIndex(s, -1) {
		before := byte(' ')
		if m[0] > 0 {
			before = s[m[0]-1]
		}
		dottedAfter := m[1]+1 < len(s) && s[m[1]] == '.' && s[m[1]+1] >= '0' && s[m[1]+1] <= '9'
		if before == '.' || before == ':' || dottedAfter {
			continue
		}
		b.WriteString(s[last:m[0]])
		b.WriteString("<pid>")
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// normalizeOutput replaces what differs between machines and runs with
// placeholders:
//   - the chapter's directory and rootfs with $PWD and $ROOTFS, since the
//     learner's checkout lives elsewhere;
//   - host PIDs (those clone reported, those of commands started with &,
//     strace's [pid N]) with <pid>, and strace's padding before " = " with
//     one space;
//   - the random id of a container (its default hostname, the name of its
//     veth on the host) with <id>, and the host's interface indexes and
//     the veth's alias (the runtime's PID and start time) with
//     placeholders;
//   - the cgroup the runs start in, below which a runtime makes its
//     containers' cgroups, with <our cgroup>, and the counters a runtime
//     reads from a cgroup (memory, CPU time) with <n>;
//   - in an image store, a container's directory with <ctr>, a temporary
//     name with <tmp>, and sha256 digests with <digest>;
//   - bash's report of a command killed by a signal, which names the
//     script and its line, with what bash prints at a terminal ("Killed");
//   - in a ps table, every PID but 1 with <pid>: inside a new PID
//     namespace the numbers after 1 depend on how many threads the Go
//     runtime had started before it exec'd the command, which depends on
//     the machine's CPUs. A PID column is right-aligned to the width of
//     its number, so <pid> replaces the padding too.
func normalizeOutput(s string, paths outputPaths, bgPIDs []string) string {
	s = bashKilled.ReplaceAllString(s, "$1")
	s = joinResults(s)
	for _, own := range paths.ownCgroups {
		s = strings.ReplaceAll(s, own.dir, own.hierarchy+"/<our cgroup>")
		// /proc/PID/cgroup names the same group from its hierarchy's root.
		s = strings.ReplaceAll(s, ":"+strings.TrimPrefix(own.dir, own.hierarchy)+"/", ":/<our cgroup>/")
	}
	if paths.rootfs != "" {
		s = strings.ReplaceAll(s, paths.rootfs, "$ROOTFS")
	}
	if paths.pwd != "" {
		s = strings.ReplaceAll(s, paths.pwd, "$PWD")
	}
	hostPIDs := map[string]bool{}
	for _, p := range bgPIDs {
		hostPIDs[p] = true
	}
	for _, m := range cloneResult.FindAllStringSubmatch(s, -1) {
		hostPIDs[m[1]] = true
	}
	var sorted []string
	for p := range hostPIDs {
		if n, err := strconv.Atoi(p); err == nil && n > 1 {
			sorted = append(sorted, p)
		}
	}
	// Longest first, so 1234 is not replaced inside 12345.
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	for _, p := range sorted {
		s = replacePID(s, p)
	}
	ids := map[string]bool{}
	for _, m := range containerID.FindAllStringSubmatch(s, -1) {
		ids[m[1]] = true
	}
	for id := range ids {
		s = strings.ReplaceAll(s, id, "<id>")
	}
	for _, m := range containerDir.FindAllStringSubmatch(s, -1) {
		s = strings.ReplaceAll(s, m[1], "<ctr>")
	}
	s = storeTmp.ReplaceAllString(s, "/tmp/<tmp>")
	s = digest.ReplaceAllString(s, "<digest>")
	s = shortDigest.ReplaceAllString(s, "sha256:<digest>")
	// A 12-digit id left now is a container's short id (final): as wide
	// as the id, so tables stay aligned.
	s = shortID.ReplaceAllString(s, "<id>        ")
	s = vethAlias.ReplaceAllStringFunc(s, func(m string) string {
		if strings.Contains(m, "pidns=") {
			return "pid=<pid> start=<start> pidns=pid:[<inode>]"
		}
		return "pid=<pid> start=<start>"
	})
	s = hostIfindex.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, "@if") {
			return "@if<ifindex>"
		}
		sub := hostIfindex.FindStringSubmatch(m)
		return sub[1] + "<ifindex>" + sub[2]
	})
	s = cgroupRead.ReplaceAllString(s, `$1"<n>$2"`)
	s = cgroupUsec.ReplaceAllString(s, "$1 <n>")
	s = cgroupUsage.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, "peak memory ") {
			return "peak memory <n>"
		}
		return regexp.MustCompile(`[0-9][0-9.]*[µmn]?s?\b`).ReplaceAllString(m, "<n>")
	})
	// A PID at the start of a line is a column right-aligned to the width
	// of the number (ps pads to 5): <pid> takes the whole column.
	s = pidColumn.ReplaceAllString(s, "<pid>")
	s = stracePID.ReplaceAllString(s, "[pid <pid>]")
	s = straceResult.ReplaceAllString(s, "$1 $2")

	lines := strings.Split(s, "\n")
	inTable := false
	for i, l := range lines {
		if psHeader.MatchString(l) {
			inTable = true
			continue
		}
		m := psRow.FindStringSubmatch(l)
		if !inTable || m == nil {
			inTable = false
			continue
		}
		if m[2] == "1" {
			continue
		}
		lines[i] = "<pid>" + m[3]
	}
	return normalizeTop(normalizeStats(strings.TrimRight(strings.Join(lines, "\n"), "\n")))
}

var (
	topHeader = regexp.MustCompile(`^HOST PID\s+PID\s+UID\s+COMMAND$`)
	topRow    = regexp.MustCompile(`^\d+\s+(\d+)\s+(\d+)\s+(.*)$`)
)

// normalizeTop hides the PIDs of box top tables, but PID 1 inside, and
// the column widths that depend on them.
func normalizeTop(s string) string {
	lines := strings.Split(s, "\n")
	inTable := false
	for i, l := range lines {
		if topHeader.MatchString(l) {
			inTable = true
			lines[i] = "HOST PID   PID   UID   COMMAND"
			continue
		}
		m := topRow.FindStringSubmatch(l)
		if !inTable || m == nil {
			inTable = false
			continue
		}
		pid := m[1]
		if pid != "1" {
			pid = "<pid>"
		}
		lines[i] = "<pid>   " + pid + "   " + m[2] + "   " + m[3]
	}
	return strings.Join(lines, "\n")
}

var (
	statsHeader  = regexp.MustCompile(`^NAME\s+ID\s+CPU %\s+MEM USAGE / LIMIT\s+MEM %\s+PIDS$`)
	statsGap     = regexp.MustCompile(`\s{2,}`)
	statsPercent = regexp.MustCompile(`\b\d+\.\d%`)
	statsMemory  = regexp.MustCompile(`\b\d+(\.\d)?[kmg]? /`)
)

// normalizeStats hides the measured values of box stats tables (CPU and
// memory use), and the column widths tabwriter gives them.
func normalizeStats(s string) string {
	lines := strings.Split(s, "\n")
	inTable := false
	for i, l := range lines {
		switch {
		case statsHeader.MatchString(l):
			inTable = true
		case !inTable || strings.HasPrefix(l, "$ ") || strings.TrimSpace(l) == "":
			inTable = false
			continue
		default:
			l = statsPercent.ReplaceAllString(l, "<n>%")
			l = statsMemory.ReplaceAllString(l, "<n> /")
		}
		lines[i] = statsGap.ReplaceAllString(l, "   ")
	}
	return strings.Join(lines, "\n")
}

// joinResults finds calls glued to a container's narration and puts
// their results, which that narration pushed down, back on them.
func joinResults(s string) string {
	lines := strings.Split(s, "\n")
	for i := 0; i < len(lines); i++ {
		m := gluedCall.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		// The release write has 1 byte to write; a container's own call
		// that the write's result cut in two leaves a lonely " = 0": then
		// the lines cannot be told apart, and the chapter is run again.
		release := strings.HasSuffix(m[1], `"\x01", 1)`)
		for j := i + 1; j < len(lines); j++ {
			if !lonelyResult.MatchString(lines[j]) || release && lines[j] != " = 1" {
				continue
			}
			moved := append([]string{m[2]}, lines[i+1:j]...)
			rest := append([]string{m[1] + lines[j]}, moved...)
			lines = append(append(lines[:i:i], rest...), lines[j+1:]...)
			break
		}
	}
	return strings.Join(lines, "\n")
}

// chapters lists docs/*.md.
func chapters(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(harness.repo, docsDir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no chapters in %s", docsDir)
	}
	return paths
}

// TestDocs runs every output block of every chapter and compares the
// block with the real output; -update rewrites the blocks.
func TestDocs(t *testing.T) {
	for _, path := range chapters(t) {
		path := path
		name := filepath.Join(docsDir, filepath.Base(path))
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		blocks, err := parseOutputBlocks(text)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(blocks) == 0 {
			continue
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			requireRoot(t)
			requireBusyboxRootfs(t)
			version := hostCgroupVersion(t)
			if on := blocksOn(blocks, version); len(on) < len(blocks) {
				t.Logf("%d blocks show another cgroup version than this host's (v%d): left out (the v2 machine checks cgroup-v2 blocks)", len(blocks)-len(on), version)
				blocks = on
			}
			if len(blocks) == 0 {
				return
			}
			got := runChapterUntilSame(t, blocks)
			for i, b := range blocks {
				if *update {
					continue
				}
				if b.start < 0 {
					t.Errorf("%s:%d: the output comment has no ``` block after it; run: sudo go test ./tests -run TestDocs -update", name, b.line)
					continue
				}
				if diff := cmp.Diff(maskFDs(b.output), maskFDs(got[i])); diff != "" {
					t.Errorf("%s:%d: block %d (%s) does not match a real run (-doc +run):\n%s\nIf the new output is right: sudo go test ./tests -run TestDocs -update",
						name, b.line, i+1, firstLine(b.commands[0]), diff)
				}
			}
			if *update {
				if err := os.WriteFile(path, []byte(rewriteBlocks(text, blocks, got)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// requireBusyboxRootfs fails t unless the tests' rootfs is the busybox
// one: the chapters show busybox's output (its ps, its ls), and a rootfs
// built from the host's binaries prints other things, which -update would
// write into every chapter.
func requireBusyboxRootfs(t *testing.T) {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(sharedRootfs(t), "bin/busybox")); err != nil {
		t.Fatal("the chapters are transcripts of runs on a busybox rootfs, and this machine has no busybox-static, so the tests' rootfs was built from the host's binaries: apt install busybox-static")
	}
}

// chapterAttempts is how many times a chapter runs before its drift is a
// failure. The runtime's narration of a call that releases the container
// process (clone; the write to the sync pipe) can interleave with the
// container's own narration, which joinResults puts right only when the
// lines can be told apart; a chapter that differs is run again, in a new
// directory, and fails only if no run matches. Drift in the code differs
// every time.
const chapterAttempts = 3

// runChapterUntilSame runs a chapter's blocks until every block matches
// the chapter, at most chapterAttempts times, and returns the last run's
// output. With -update it runs once.
func runChapterUntilSame(t *testing.T, blocks []outputBlock) []string {
	t.Helper()
	var got []string
	for attempt := 1; attempt <= chapterAttempts; attempt++ {
		got = runChapter(t, newDocsWorkdir(t), blocks)
		if *update {
			return got
		}
		differs := ""
		for i, b := range blocks {
			if b.start < 0 || maskFDs(b.output) != maskFDs(got[i]) {
				differs = fmt.Sprintf("block %d (line %d) differs (-doc +run):\n%s", i+1, b.line, cmp.Diff(maskFDs(b.output), maskFDs(got[i])))
				break
			}
		}
		if differs == "" {
			return got
		}
		if attempt < chapterAttempts {
			t.Logf("attempt %d: %s; running the chapter again", attempt, differs)
		}
	}
	return got
}

var (
	fdResult   = regexp.MustCompile(`(?m)^(\s+(?:open|openat|socket|pidfd_open)\(.*\) = )\d+$`)
	fdArgument = regexp.MustCompile(`(?m)^(\s+(?:flock|write|close|setns|ioctl|fchown|fchmod|bind|sendto|recvfrom)\()\d+([,)])`)
)

// maskFDs hides file descriptor numbers in narrated calls: they depend on
// what the runtime's own parent left open and on the Go release, not on
// what a chapter teaches, so the chapter keeps the numbers of its last
// -update and a run may differ from them.
func maskFDs(s string) string {
	s = fdResult.ReplaceAllString(s, "${1}<fd>")
	return fdArgument.ReplaceAllString(s, "${1}<fd>${2}")
}

// rewriteBlocks puts got in place of each block's fence content, adding a
// fence where a comment has none.
func rewriteBlocks(text string, blocks []outputBlock, got []string) string {
	var b strings.Builder
	last := 0
	for i, blk := range blocks {
		fence := blk.indent + "```"
		if blk.start < 0 {
			b.WriteString(text[last:blk.end])
			b.WriteString(fence + "\n" + indentLines(got[i], blk.indent) + "\n" + fence + "\n")
			last = blk.end
			continue
		}
		b.WriteString(text[last:blk.start])
		b.WriteString(indentLines(got[i], blk.indent) + "\n")
		last = blk.end // the closing fence
	}
	b.WriteString(text[last:])
	return b.String()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// TestDocsParse checks the block parser, the script and the normalizer on
// made-up chapters; it needs no root.
func TestDocsParse(t *testing.T) {
	text := "intro\n<!-- output: 01-chroot run -- true -->\n```\n$ old\nold\n```\n" +
		"<!--\n  output:\n-->\n" +
		"<!-- output:\nsleep 1 &\n02-pid-ns run \\\n  -- true\n-->\n```\n```\nend\n" +
		"<!-- output: echo new -->\ntext\n" +
		"- item\n\n  <!-- output: echo in list -->\n  ```\n  a\n\n  b\n  ```\n"
	blocks, err := parseOutputBlocks(text)
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Line     int
		Commands []string
		Output   string
		HasFence bool
	}
	var got []summary
	for _, b := range blocks {
		got = append(got, summary{b.line, b.commands, b.output, b.start >= 0})
	}
	want := []summary{
		{2, []string{"01-chroot run -- true"}, "$ old\nold", true},
		{10, []string{"sleep 1 &", "02-pid-ns run \\\n-- true"}, "", true},
		{18, []string{"echo new"}, "", false},
		{22, []string{"echo in list"}, "a\n\nb", true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("parsed blocks (-want +got):\n%s", diff)
	}
	rewritten := rewriteBlocks(text, blocks, []string{"A", "B\nC", "D", "E\n\nF"})
	wantText := "intro\n<!-- output: 01-chroot run -- true -->\n```\nA\n```\n" +
		"<!--\n  output:\n-->\n" +
		"<!-- output:\nsleep 1 &\n02-pid-ns run \\\n  -- true\n-->\n```\nB\nC\n```\nend\n" +
		"<!-- output: echo new -->\n```\nD\n```\ntext\n" +
		"- item\n\n  <!-- output: echo in list -->\n  ```\n  E\n\n  F\n  ```\n"
	if diff := cmp.Diff(wantText, rewritten); diff != "" {
		t.Errorf("rewritten chapter (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("$ sleep 1 &\n$ 02-pid-ns run \\\n> -- true\n", promptLines(blocks[1].commands)); diff != "" {
		t.Errorf("prompt lines (-want +got):\n%s", diff)
	}
}

// TestDocsScript runs a chapter script with bash: separators come before
// each block, prompts before each command's output, $? and variables carry
// over, and $! is recorded.
func TestDocsScript(t *testing.T) {
	bash := requireTool(t, "bash")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	blocks := [][]string{{"false", "echo status $?", "x=1"}, {"sleep 0 &", "echo it is \\\ndone $x"}}
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", chapterScript(blocks))
	cmd.ExtraFiles = []*os.File{w}
	out, err := cmd.CombinedOutput()
	w.Close()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := blockSeparator + "\n$ false\n$ echo status $?\nstatus 1\n$ x=1\n" +
		blockSeparator + "\n$ sleep 0 &\n$ echo it is \\\n> done $x\nit is done 1\n"
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	pids, _ := readAll(r)
	unique := map[string]bool{}
	for _, p := range strings.Fields(pids) {
		unique[p] = true
	}
	if len(unique) != 1 {
		t.Errorf("recorded $! values %q, want the one of sleep", pids)
	}
}

func readAll(f *os.File) (string, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(f)
	return b.String(), err
}

func TestDocsNormalize(t *testing.T) {
	paths := outputPaths{pwd: "/tmp/box-tests-1/rootfs-copy-2", rootfs: "/tmp/box-tests-1/rootfs-copy-2/rootfs",
		ownCgroups: []docsCgroup{{"/sys/fs/cgroup/memory/some/where", "/sys/fs/cgroup/memory"}}}
	tests := []struct {
		name, in, want string
		bg             []string
	}{
		{"paths", `chroot("/tmp/box-tests-1/rootfs-copy-2/rootfs") = 0` + "\ncat /tmp/box-tests-1/rootfs-copy-2/note",
			`chroot("$ROOTFS") = 0` + "\ncat $PWD/note", nil},
		{"clone pid everywhere", "  clone(flags=SIGCHLD /* Go adds CLONE_VM|CLONE_VFORK */) = 4321\nmy pid is 4321, not 43210",
			"  clone(flags=SIGCHLD /* Go adds CLONE_VM|CLONE_VFORK */) = <pid>\nmy pid is <pid>, not 43210", nil},
		{"background pid", `execve("/bin/sh", ["sh", "-c", "kill 777"])` + "\n  777 sleep 9", `execve("/bin/sh", ["sh", "-c", "kill <pid>"])` + "\n<pid> sleep 9", []string{"777", ""}},
		{"ps table", "PID   USER     COMMAND\n    1 root     sleep 1000\n    5 root     ps\n  123 root     sh\n123456 x\nafter 5",
			"PID   USER     COMMAND\n    1 root     sleep 1000\n<pid> root     ps\n<pid> root     sh\n<pid> x\nafter 5", nil},
		{"strace", "[pid 12345] chroot(\"/x\")          = 0\nexecve(\"/a\", [\"a\"]) = 0", "[pid <pid>] chroot(\"/x\") = 0\nexecve(\"/a\", [\"a\"]) = 0", nil},
		{"trailing newlines", "a\n\n", "a", nil},
		{"pid that is also part of an address", "  clone(flags=SIGCHLD) = 200\nkill 200\ninet 10.200.0.1/30 and 1.200 and :200, pid 200.",
			"  clone(flags=SIGCHLD) = <pid>\nkill <pid>\ninet 10.200.0.1/30 and 1.200 and :200, pid <pid>.", nil},
		{"clone result pushed down", "  clone(flags=SIGCHLD /* Go adds CLONE_VM|CLONE_VFORK */)# Change the root.\n  chroot(\"/r\") = 0\n  execve(\"/bin/sh\", [\"sh\"], [])\n = 26760\nmy PID is 26760",
			"  clone(flags=SIGCHLD /* Go adds CLONE_VM|CLONE_VFORK */) = <pid>\n# Change the root.\n  chroot(\"/r\") = 0\n  execve(\"/bin/sh\", [\"sh\"], [])\nmy PID is <pid>", nil},
		{"stats table", "$ box stats --no-stream busy\nNAME   ID             CPU %   MEM USAGE / LIMIT   MEM %   PIDS\nbusy   64e2f855fc18   50.3%   636k / 64m          1.0%    1\nidle   33fe9a9a1006   0.0%    1.5m / no limit     -       1\n$ box rm -f busy",
			"$ box stats --no-stream busy\nNAME   ID   CPU %   MEM USAGE / LIMIT   MEM %   PIDS\nbusy   <id>   <n>%   <n> / 64m   <n>%   1\nidle   <id>   <n>%   <n> / no limit   -   1\n$ box rm -f busy", nil},
		{"top table", "$ box top web\nHOST PID   PID   UID      COMMAND\n9372       1     100000   /tmp/boxf init\n9384       13    100000   sleep 1001\n$ box rm -f web",
			"$ box top web\nHOST PID   PID   UID   COMMAND\n<pid>   1   100000   /tmp/boxf init\n<pid>   <pid>   100000   sleep 1001\n$ box rm -f web", nil},
		{"image store", "# Give layer sha256:6712cc3a079b to the user namespace: copy it to /s/tmp/8348-618919-shift-5d991289dfc4\n" +
			"  mount(\"overlay\", \"/s/containers/69f53c818814/merged\", \"overlay\", 0, \"lowerdir=/s/layers/0/sha256/6712cc3a079b441468a5793cdf4151bd3af56eedae54c2612f40bf81988eb59f\") = 0\n" +
			"# Remove the container's dirs: /s/containers/69f53c818814.",
			"# Give layer sha256:<digest> to the user namespace: copy it to /s/tmp/<tmp>\n" +
				"  mount(\"overlay\", \"/s/containers/<ctr>/merged\", \"overlay\", 0, \"lowerdir=/s/layers/0/sha256/<digest>\") = 0\n" +
				"# Remove the container's dirs: /s/containers/<ctr>.", nil},
		{"cgroups", "  mkdir(\"/sys/fs/cgroup/memory/some/where/box-0d678a\", 0755) = 0\n" +
			"4:memory:/some/where/box-0d678a\n" +
			"  read /sys/fs/cgroup/memory/some/where/box-0d678a/memory.max_usage_in_bytes -> \"524288\"\n" +
			"  write(13, \"\\x01\", 1)# Name the container box: the UTS\n  sethostname(\"box\", 3) = 0\n = 1\n" +
			"  read /sys/fs/cgroup/pids/box-0d678a/pids.peak -> \"5\"\n" +
			"  read /sys/fs/cgroup/pids/box-0d678a/pids.events -> \"max 0\"\n" +
			"# Accounting: peak memory 1m (1048576 bytes), CPU time 2.259782ms, peak processes 5, OOM kills 0, memory limit reached 78 times, forks refused 0, throttled periods 3.",
			"  mkdir(\"/sys/fs/cgroup/memory/<our cgroup>/box-<id>\", 0755) = 0\n" +
				"4:memory:/<our cgroup>/box-<id>\n" +
				"  read /sys/fs/cgroup/memory/<our cgroup>/box-<id>/memory.max_usage_in_bytes -> \"<n>\"\n" +
				"  write(13, \"\\x01\", 1) = 1\n# Name the container box: the UTS\n  sethostname(\"box\", 3) = 0\n" +
				"  read /sys/fs/cgroup/pids/box-<id>/pids.peak -> \"<n>\"\n" +
				"  read /sys/fs/cgroup/pids/box-<id>/pids.events -> \"max 0\"\n" +
				"# Accounting: peak memory <n>, CPU time <n>, peak processes <n>, OOM kills 0, memory limit reached <n> times, forks refused 0, throttled periods <n>.", nil},
		{"container id and interfaces", "# Name the container a1d454: the UTS\n  sethostname(\"a1d454\", 6) = 0\na1d454\n" +
			`  RTM_NEWLINK {ifname="box1ee863", linkinfo={kind="veth"}} = 0` + "\n" +
			`  RTM_SETLINK {ifname="box1ee863", ifalias="box run pid=19515 start=499572"} = 0` + "\n" +
			`  RTM_SETLINK {ifname="box1ee863", ifalias="box run pid=19515 start=499572 pidns=pid:[4026531836]"} = 0` + "\n" +
			`  RTM_NEWADDR {family=AF_INET, index=75 /* box1ee863 */} = 0` + "\n" +
			`  RTM_NEWADDR {family=AF_INET, index=2 /* eth0 */} = 0` + "\n" +
			"75: box1ee863    inet 10.200.0.1/30\n2: eth0@if75: <UP>",
			"# Name the container <id>: the UTS\n  sethostname(\"<id>\", 6) = 0\n<id>\n" +
				`  RTM_NEWLINK {ifname="box<id>", linkinfo={kind="veth"}} = 0` + "\n" +
				`  RTM_SETLINK {ifname="box<id>", ifalias="box run pid=<pid> start=<start>"} = 0` + "\n" +
				`  RTM_SETLINK {ifname="box<id>", ifalias="box run pid=<pid> start=<start> pidns=pid:[<inode>]"} = 0` + "\n" +
				`  RTM_NEWADDR {family=AF_INET, index=<ifindex> /* box<id> */} = 0` + "\n" +
				`  RTM_NEWADDR {family=AF_INET, index=2 /* eth0 */} = 0` + "\n" +
				"<ifindex>: box<id>    inet 10.200.0.1/30\n2: eth0@if<ifindex>: <UP>", nil},
		{"killed", "/tmp/x/chapter.sh: line 79:  2592 Killed                  timeout -s KILL 1 sleep 9\nexit status 137",
			"Killed\nexit status 137", nil},
		{"cgroup v2", "  clone3({flags=CLONE_PIDFD|CLONE_INTO_CGROUP, exit_signal=SIGCHLD, cgroup=7}, 88) = 115\n  write /proc/115/uid_map <- \"0 100000 65536\\n\" = 0\n" +
			"  read /sys/fs/cgroup/box/box-0d678a/cpu.stat -> \"usage_usec 754796\\nuser_usec 263579\\nsystem_usec 491216\\nnr_periods 0\"",
			"  clone3({flags=CLONE_PIDFD|CLONE_INTO_CGROUP, exit_signal=SIGCHLD, cgroup=7}, 88) = <pid>\n  write /proc/<pid>/uid_map <- \"0 100000 65536\\n\" = 0\n" +
				"  read /sys/fs/cgroup/box/box-<id>/cpu.stat -> \"usage_usec <n>\\nuser_usec <n>\\nsystem_usec <n>\\nnr_periods 0\"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, normalizeOutput(tt.in, paths, tt.bg)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// diffComment introduces an excerpt of the generated diff between two
// steps: <!-- diff: 02-pid-ns 03-mount-ns --> then a ```diff fence.
var diffComment = regexp.MustCompile(`<!-- diff: (\S+) (\S+) -->[ \t]*\n` + "```" + `diff\n((?s:.*?))` + "```")

// TestDocsDiffExcerpts checks that every diff excerpt a chapter quotes is
// still in the diff of the two steps it names: each run of lines between
// "@@" or "..." lines must appear, whole and in order, in the diff. An
// excerpt cannot be rewritten by a program; when the code moves on, the
// chapter's commentary has to be read again anyway.
func TestDocsDiffExcerpts(t *testing.T) {
	requireTool(t, "diff")
	for _, path := range chapters(t) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		name := filepath.Join(docsDir, filepath.Base(path))
		for _, m := range diffComment.FindAllStringSubmatchIndex(text, -1) {
			line := 1 + strings.Count(text[:m[0]], "\n")
			prev, step := text[m[2]:m[3]], text[m[4]:m[5]]
			if stepIndex(prev) < 0 || stepIndex(step) < 0 {
				t.Errorf("%s:%d: diff excerpt names %s and %s; not both are steps of this tree", name, line, prev, step)
				continue
			}
			full, err := stepDiff(prev, step)
			if err != nil {
				t.Fatal(err)
			}
			diffLines := strings.Split(string(full), "\n")
			for _, run := range excerptRuns(text[m[6]:m[7]]) {
				if !containsRun(diffLines, run) {
					t.Errorf("%s:%d: these lines are not in the diff of %s and %s any more; read the diff again and update the excerpt and its commentary:\n%s",
						name, line, prev, step, strings.Join(run, "\n"))
				}
			}
		}
	}
}

// excerptRuns splits an excerpt at "@@" and "..." lines.
func excerptRuns(excerpt string) [][]string {
	var runs [][]string
	var cur []string
	for _, l := range strings.Split(strings.TrimSuffix(excerpt, "\n"), "\n") {
		if strings.HasPrefix(l, "@@") || strings.TrimSpace(l) == "..." {
			if len(cur) > 0 {
				runs = append(runs, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, l)
	}
	if len(cur) > 0 {
		runs = append(runs, cur)
	}
	return runs
}

// containsRun tells whether run appears as consecutive lines of lines.
func containsRun(lines, run []string) bool {
	for i := 0; i+len(run) <= len(lines); i++ {
		if cmp.Equal(lines[i:i+len(run)], run) {
			return true
		}
	}
	return false
}

// markdownLink finds relative links: [text](path) not starting with a
// scheme or an anchor.
var markdownLink = regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)

// TestDocsLinks checks that every relative link in the chapters and the
// README points to a file or directory of the repository.
func TestDocsLinks(t *testing.T) {
	files := append(chapters(t), filepath.Join(harness.repo, "README.md"))
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(harness.repo, path)
		for _, m := range markdownLink.FindAllStringSubmatch(string(raw), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), target)); err != nil {
				t.Errorf("%s: link to %s: no such file in the repository", rel, target)
			}
		}
	}
}

// The README's feature table is the feature suite's table: features
// (rows, in the order a reader meets them) against steps (columns), a
// check mark where the step must show the feature. It sits between these
// markers, after the table of steps.
const (
	featureTableStart = "<!-- feature-table -->"
	featureTableEnd   = "<!-- /feature-table -->"
)

// renderFeatureTable writes the table for the features and steps given.
func renderFeatureTable(fs []feature, steps []string) string {
	var b strings.Builder
	b.WriteString("| feature |")
	for _, s := range steps {
		short, _, _ := strings.Cut(s, "-") // 02-pid-ns is 02; final stays final
		fmt.Fprintf(&b, " [%s](%s) |", short, stepDir(s))
	}
	b.WriteString("\n|---|" + strings.Repeat(":-:|", len(steps)) + "\n")
	for _, f := range fs {
		fmt.Fprintf(&b, "| %s |", f.name)
		for _, s := range steps {
			mark := "–"
			if stepAtLeast(s, f.since) {
				mark = "✓"
			}
			fmt.Fprintf(&b, " %s |", mark)
		}
		b.WriteString("\n")
	}
	b.WriteString("\nEvery mark is checked: `tests/` runs each feature against every step and\n" +
		"expects it from the step that brings it on, and not before. The table is\n" +
		"written from that suite by `go test ./tests -run TestFeatureTableInReadme -update`.\n")
	return b.String()
}

// TestFeatureTableInReadme checks that README.md's feature table is the
// one the feature suite checks; -update writes it, adding the markers after
// the table of steps the first time.
func TestFeatureTableInReadme(t *testing.T) {
	path := filepath.Join(harness.repo, "README.md")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	want := renderFeatureTable(sortedFeatures(t), harness.steps)
	start := strings.Index(text, featureTableStart)
	end := strings.Index(text, featureTableEnd)
	if start < 0 || end < start {
		if !*update {
			t.Fatalf("README.md has no %s ... %s markers; run: go test ./tests -run TestFeatureTableInReadme -update", featureTableStart, featureTableEnd)
		}
		at, err := afterStepsTable(text)
		if err != nil {
			t.Fatal(err)
		}
		text = text[:at] + "\n" + featureTableStart + "\n" + featureTableEnd + "\n" + text[at:]
		start = strings.Index(text, featureTableStart)
		end = strings.Index(text, featureTableEnd)
	}
	inner := start + len(featureTableStart) + 1
	got := text[inner:end]
	if *update {
		if err := os.WriteFile(path, []byte(text[:inner]+want+text[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("README.md's feature table is not the feature suite's (-suite +README):\n%s\nrun: go test ./tests -run TestFeatureTableInReadme -update", diff)
	}
}

// afterStepsTable is the offset just past the first table after the
// "## The steps" heading.
func afterStepsTable(text string) (int, error) {
	h := strings.Index(text, "\n## The steps\n")
	if h < 0 {
		return 0, errors.New(`README.md has no "## The steps" heading to put the feature table after`)
	}
	inTable := false
	offset := h + 1
	for _, l := range strings.SplitAfter(text[h+1:], "\n") {
		isRow := strings.HasPrefix(l, "|")
		if inTable && !isRow {
			return offset, nil
		}
		inTable = inTable || isRow
		offset += len(l)
	}
	return 0, errors.New(`README.md: no table after "## The steps"`)
}

func TestMaskFDs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`  open("/sys/fs/cgroup/pids/box-<id>", O_RDONLY|O_DIRECTORY|O_CLOEXEC) = 11`, `  open("/sys/fs/cgroup/pids/box-<id>", O_RDONLY|O_DIRECTORY|O_CLOEXEC) = <fd>`},
		{`  flock(12, LOCK_EX|LOCK_NB) = 0`, `  flock(<fd>, LOCK_EX|LOCK_NB) = 0`},
		{`  write(3, "\x01", 1) = 1`, `  write(<fd>, "\x01", 1) = 1`},
		{`  socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) = 6`, `  socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) = <fd>`},
		{`  mount("proc", "/proc", "proc", 0, NULL) = 0`, `  mount("proc", "/proc", "proc", 0, NULL) = 0`},
		{`  mkdir("/sys/fs/cgroup/pids/box-<id>", 0755) = 0`, `  mkdir("/sys/fs/cgroup/pids/box-<id>", 0755) = 0`},
		{`write 12 bytes`, `write 12 bytes`},
	} {
		if got := maskFDs(tc.in); got != tc.want {
			t.Errorf("maskFDs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestDocsCgroupBlocks checks the cgroup version words after a fence: a
// host runs the blocks of its version and those that name none.
func TestDocsCgroupBlocks(t *testing.T) {
	text := "<!-- output: a -->\n```\nA\n```\n<!-- output: b -->\n```text cgroup-v2\nB\n```\n" +
		"<!-- output: b -->\n```text cgroup-v1\nB1\n```\n<!-- output: c -->\n```text cgroup-v1 cgroup-v2\nC\n```\n"
	blocks, err := parseOutputBlocks(text)
	if err != nil {
		t.Fatal(err)
	}
	outputs := func(bs []outputBlock) []string {
		var out []string
		for _, b := range bs {
			out = append(out, b.output)
		}
		return out
	}
	if diff := cmp.Diff([]string{"A", "B1", "C"}, outputs(blocksOn(blocks, 1))); diff != "" {
		t.Errorf("blocks on v1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"A", "B", "C"}, outputs(blocksOn(blocks, 2))); diff != "" {
		t.Errorf("blocks on v2 (-want +got):\n%s", diff)
	}
	on2 := blocksOn(blocks, 2)
	rewritten := rewriteBlocks(text, on2[1:2], []string{"NEW"})
	if !strings.Contains(rewritten, "```text cgroup-v2\nNEW\n```") || !strings.Contains(rewritten, "```text cgroup-v1\nB1\n```") {
		t.Errorf("rewriting the v2 block kept its fence's words and nothing else changed:\n%s", rewritten)
	}
}
