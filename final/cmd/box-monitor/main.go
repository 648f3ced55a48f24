// Command box-monitor is what a detached container's monitor becomes once
// the container runs: box monitor sets the container up as box run does,
// then execve()s this small program, which copies the container's output
// to its capped log and waits for the init, and execve()s box again when
// the container has exited, to record its exit and clean up. It lives as
// long as the container, so it is kept small: it links the log writer and
// the narration and little else, and its whole file is smaller than the
// part of box's that copying and waiting would keep mapped
// (bench/README.md, "A detached container's monitor").
//
//	box-monitor PID OUTPUT BOX EXPLAIN LOG MAX-SIZE MAX-FILES BOX-ARGV...
//
// PID is the container's init, a child of this process (the monitor
// forked it from the thread that execve()d us, which is now our main
// thread: the init's parent-death signal fires when that thread ends);
// OUTPUT the descriptor of the pipe its output comes from; BOX a
// descriptor of box's own file, to execute it again; EXPLAIN the
// descriptor to narrate on, -1 without --explain; LOG, MAX-SIZE and
// MAX-FILES the log and its caps (internal/logfile). BOX-ARGV is box's
// command line, "box [global flags] monitor ID", to which it adds
// "resume PID STATUS OUTPUT UNWRITTEN" (final/monitor.go): the raw wait
// status (-1: not waited for yet), the descriptor to go on copying from
// (-1: all copied), and the bytes read that the log did not take.
//
// The log's filesystem filling up is the one case it does not handle
// itself: box does (it counts what is dropped in the exit record and
// marks the place in the log), so it hands the container back to box then,
// which goes on as a monitor of its own for the rest of its life.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"box/final/internal/logfile"
	"box/final/internal/narrate"
)

// programName is this program's name.
const programName = "box-monitor"

// drainLimit bounds the wait for the container's last output once its
// init has exited, as box's monitor bounds it (final/monitor.go).
const drainLimit = 5 * time.Second

// copyBuffer is what one read from the container takes: as the pipe's
// default capacity is 64 KB, half of it keeps a fast writer busy.
const copyBuffer = 32 << 10

// The heap profile's buckets would stay for the program's life: none.
var _ = func() int { runtime.MemProfileRate = 0; return 0 }()

// init locks the main goroutine to the main thread (runtime.LockOSThread
// from an init function runs main there): the container's init is that
// thread's child, and box must be execve()d from it at the end, or the
// init's parent-death signal (SIGKILL) would fire as the thread ended.
func init() {
	runtime.LockOSThread()
}

// args is the command line, read.
type args struct {
	pid, output, box, explain int
	log                       string
	maxSize                   int64
	maxFiles                  int
	boxArgv                   []string
}

func parseArgs(argv []string) (args, error) {
	if len(argv) < 9 {
		return args{}, errors.New("box-monitor: started by box monitor with descriptors to copy from; it is not run by hand")
	}
	var a args
	var ints [7]int64
	for i, s := range argv[1:8] {
		if i == 4 {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return args{}, fmt.Errorf("box-monitor: argument %d %q: want a number", i+1, s)
		}
		ints[i] = n
	}
	a.pid, a.output, a.box, a.explain = int(ints[0]), int(ints[1]), int(ints[2]), int(ints[3])
	a.log, a.maxSize, a.maxFiles = argv[5], ints[5], int(ints[6])
	a.boxArgv = argv[8:]
	return a, nil
}

func main() {
	a, err := parseArgs(os.Args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(125)
	}
	// The copy allocates nothing, not even to rotate the log; should
	// anything, collect it at a small heap.
	debug.SetGCPercent(10)
	// Ours alone: box is executed through its descriptor (execve needs no
	// more), and opens explain.log itself; the output is passed on when
	// box must go on copying.
	syscall.CloseOnExec(a.box)
	if a.explain >= 0 {
		syscall.CloseOnExec(a.explain)
		narrate.Setup(true, os.NewFile(uintptr(a.explain), "explain.log"), false)
	}
	nameProcess()
	output := os.NewFile(uintptr(a.output), "output")
	log, err := logfile.Open(a.log, a.maxSize, a.maxFiles)
	if err != nil {
		resume(a, -1, a.output, 0) // box says what failed, in the log
	}
	copied := make(chan int, 1) // bytes read that the log did not take, -1: all copied
	go copyOutput(output, log, copied)
	// The goroutine learns of the exit without reaping: were it to reap,
	// and the log fill up in the same moment, box would be executed to
	// wait for an init already gone, its status lost with this program.
	exited := make(chan struct{}, 1)
	go func() { waitExited(a.pid); exited <- struct{}{} }()
	select {
	case unwritten := <-copied:
		if unwritten >= 0 {
			resume(a, -1, a.output, unwritten)
		}
		// The container closed its output and runs on.
		<-exited
		resume(a, wait(a.pid), -1, 0)
	case <-exited:
		status := wait(a.pid) // a zombie: at once
		// Every process of the container has exited with its init, so
		// the copy ends at once; unless one lives on outside its PID
		// namespace with the pipe, which must not keep us.
		_ = output.SetReadDeadline(time.Now().Add(drainLimit))
		if unwritten := <-copied; unwritten >= 0 {
			resume(a, status, a.output, unwritten)
		}
		resume(a, status, -1, 0)
	}
}

// nameProcess sets this process's name (comm: what ps -e and top show) to
// box-monitor: executed as /proc/self/fd/N, it would be "N". prctl(2)
// PR_SET_NAME.
func nameProcess() {
	name := []byte(programName + "\x00")
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0)
	result := "= 0"
	if errno != 0 {
		result = "= -1 (" + errno.Error() + ")"
	}
	narrate.Line(`prctl(PR_SET_NAME, "` + programName + `", 0, 0, 0) ` + result)
}

// copyOutput copies from output to log until output ends (or its drain
// deadline passes): then it sends -1; if the log refuses a write it stops
// and sends how many of the bytes read it did not take.
func copyOutput(output *os.File, log *logfile.Writer, copied chan<- int) {
	buf := make([]byte, copyBuffer)
	for {
		n, err := output.Read(buf)
		if n > 0 {
			if m, werr := log.Write(buf[:n]); werr != nil {
				log.Close()
				copied <- n - m
				return
			}
		}
		if err != nil {
			log.Close()
			copied <- -1
			return
		}
	}
}

// waitExited returns once the init has exited, leaving it a zombie for
// wait (or for box, executed again) to reap: waitid(2) with WNOWAIT. Not
// narrated, as wait is not.
func waitExited(pid int) {
	var info [128]byte // siginfo_t, unread
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|wNoWait, 0, 0)
		if errno != syscall.EINTR {
			return // exited, or not our child: wait says which
		}
	}
}

// waitid(2)'s P_PID and WNOWAIT, which package syscall does not name.
const (
	pPID    = 1
	wNoWait = 0x1000000
)

// wait waits for the init to exit and returns its raw wait status. Not
// narrated, as box's monitor does not narrate its wait: it lasts the
// container's life.
func wait(pid int) int {
	for {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			// Not our child: box's own wait will say so.
			return -1
		}
		return int(ws)
	}
}

// resume execve()s box again, from the main thread, with what it needs to
// go on (see the package comment); it does not return.
func resume(a args, status, output, unwritten int) {
	argv := append(a.boxArgv, "resume", strconv.Itoa(a.pid), strconv.Itoa(status), strconv.Itoa(output), strconv.Itoa(unwritten))
	path := "/proc/self/fd/" + strconv.Itoa(a.box)
	env := os.Environ()
	why := "The container has exited: execute box again, to record its exit and undo what it set up."
	switch {
	case unwritten > 0 || output >= 0 && status >= 0:
		why = "The log's filesystem is full: execute box again, which counts what is dropped and goes on copying."
	case output >= 0:
		why = "The log's filesystem is full: execute box again, which counts what is dropped and supervises the container from now on."
	}
	narrate.Explain(narrate.Process, "%s", why)
	narrate.Line(fmt.Sprintf("execve(%s, %s, %s)", strconv.Quote(path), cArgv(argv), cArgv(env)))
	err := syscall.Exec(path, argv, env)
	var errno syscall.Errno
	if errors.As(err, &errno) {
		narrate.Line(fmt.Sprintf("= -1 %s", errno.Error()))
	}
	fmt.Fprintf(os.Stderr, "box-monitor: execve box to record the container's exit: %v\n", err)
	os.Exit(125)
}

// cArgv prints an argument vector as strace does, as box's narration does.
func cArgv(argv []string) string {
	quoted := make([]string, len(argv))
	for i, s := range argv {
		quoted[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
