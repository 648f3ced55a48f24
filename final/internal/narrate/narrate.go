// Package narrate prints what the runtime asks of the kernel, the way
// strace(1) shows it, with one "why" sentence before each group of calls.
//
// Narration is off by default and turned on by --explain. It goes to
// stderr (or the writer given to Setup), so the container's own stdout
// stays clean. Each kernel feature has a color; a group of calls takes the
// color of the feature its sentence names. Color is used only when the
// caller says the output is a terminal and NO_COLOR is unset.
package narrate

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/fatih/color"
)

// Feature is the kernel feature a group of calls belongs to.
type Feature int

// The features, in the order a container is built.
const (
	Process  Feature = iota // fork, exec, wait, signals
	Root                    // the root directory: chroot, pivot_root
	PID                     // the PID namespace and its /proc
	Mount                   // the mount namespace and the container's mounts
	UTS                     // the UTS namespace: hostname
	Net                     // the network namespace and its interfaces
	IPC                     // the IPC namespace
	User                    // the user namespace and its id maps
	Cgroup                  // cgroups: limits and accounting
	Layers                  // overlay layers and images
	Security                // capabilities, no_new_privs, masked paths, devices
	Terminal                // pseudo-terminals and job control
	State                   // the runtime's own bookkeeping: state files, locks
)

// names are the feature tags printed in front of each sentence.
var names = map[Feature]string{
	Process: "process", Root: "root", PID: "pid", Mount: "mount", UTS: "uts",
	Net: "net", IPC: "ipc", User: "user", Cgroup: "cgroup", Layers: "layers",
	Security: "security", Terminal: "terminal", State: "state",
}

var colors = map[Feature]color.Attribute{
	Process: color.FgWhite, Root: color.FgCyan, PID: color.FgMagenta,
	Mount: color.FgBlue, UTS: color.FgGreen, Net: color.FgYellow,
	IPC: color.FgHiGreen, User: color.FgHiMagenta, Cgroup: color.FgRed,
	Layers: color.FgHiCyan, Security: color.FgHiRed, Terminal: color.FgHiYellow,
	State: color.FgHiBlack,
}

// String is the feature's tag, as printed.
func (f Feature) String() string {
	if n, ok := names[f]; ok {
		return n
	}
	return fmt.Sprintf("feature(%d)", int(f))
}

// narrator is the process-wide narration switch. The mutex keeps lines
// whole when goroutines narrate at once.
type narrator struct {
	sync.Mutex
	on      bool
	color   bool
	out     io.Writer
	feature Feature
}

var n = narrator{out: os.Stderr}

// Setup turns narration on or off, says where it goes and whether it may be
// colored; the caller decides color, as it alone knows whether out is a
// terminal. NO_COLOR (https://no-color.org) always wins.
func Setup(on bool, out io.Writer, useColor bool) {
	n.Lock()
	defer n.Unlock()
	n.on = on
	n.out = out
	n.color = useColor && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}

// Enabled tells whether narration is printed.
func Enabled() bool {
	n.Lock()
	defer n.Unlock()
	return n.on
}

// Colored tells whether narration is colored, so a child can be told the same.
func Colored() bool {
	n.Lock()
	defer n.Unlock()
	return n.color
}

// Off stops narration for good in this process: the container's init calls
// it once setup is done, so what runs after is the command's business.
func Off() {
	n.Lock()
	defer n.Unlock()
	n.on = false
}

// To turns narration on into out until restore is called, which puts the
// settings before back: the container's init, silent once the command
// runs, narrates what one box exec --explain asks of it onto that box
// exec's stderr.
func To(out io.Writer, useColor bool) (restore func()) {
	n.Lock()
	before := struct {
		on, color bool
		out       io.Writer
	}{n.on, n.color, n.out}
	n.Unlock()
	Setup(true, out, useColor)
	return func() {
		n.Lock()
		defer n.Unlock()
		n.on, n.color, n.out = before.on, before.color, before.out
	}
}

// Explain prints the one-sentence reason for the calls that follow, tagged
// with the feature, and gives those calls its color.
func Explain(f Feature, format string, args ...any) {
	n.Lock()
	defer n.Unlock()
	n.feature = f
	if n.on {
		n.write(fmt.Sprintf("# %s: %s\n", f, fmt.Sprintf(format, args...)), true)
	}
}

// Call prints a system call as C before it is made; Result completes the
// line. The lock is not held in between, as the call may block, so another
// goroutine's or process's line can land inside: the wrappers of package
// sys print each call whole with Line once it returned instead.
func Call(call string) {
	n.Lock()
	defer n.Unlock()
	if n.on {
		n.write("  "+call, false)
	}
}

// Result completes the line Call started: " = 0", " = -1 EPERM (...)".
func Result(result string) {
	n.Lock()
	defer n.Unlock()
	if n.on {
		n.write(" "+result+"\n", false)
	}
}

// Line prints a whole call line at once, for a call whose result is printed
// on a line of its own (an execve that succeeds never returns).
func Line(line string) {
	n.Lock()
	defer n.Unlock()
	if n.on {
		n.write("  "+line+"\n", false)
	}
}

// write prints s in the current feature's color when color is on.
func (n *narrator) write(s string, bold bool) {
	if !n.color {
		fmt.Fprint(n.out, s)
		return
	}
	c := color.New(colors[n.feature])
	if bold {
		c.Add(color.Bold)
	}
	c.EnableColor()
	// One write per line, color codes included: another process's
	// narration cannot land inside it.
	fmt.Fprint(n.out, c.Sprint(s))
}
