// Package sys is the one seam between the runtime and the kernel: every
// system call that changes something (a mount, a namespace, a capability,
// a signal, a terminal) goes through a wrapper here. Each wrapper prints
// the call as C, the way strace(1) shows it, makes it, prints the result,
// and wraps an error with the operation and the path.
//
// No other package of the runtime imports golang.org/x/sys/unix for side
// effects. That gives one place to narrate and one place to fake: a
// Recorder installed by a test receives each call instead of the kernel,
// so a test can compare the sequence of calls with a golden file.
package sys

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"box/final/internal/narrate"

	"golang.org/x/sys/unix"
)

// Recorder stands in for the kernel in tests: it is handed every call, as
// narrated, instead of the call being made, and what it returns is the
// call's result.
type Recorder interface {
	Record(call string) (int, error)
}

var recording struct {
	sync.Mutex
	r Recorder
}

// SetRecorder makes r receive every call from now on instead of the
// kernel, until restore is called. Only tests use it.
func SetRecorder(r Recorder) (restore func()) {
	recording.Lock()
	defer recording.Unlock()
	old := recording.r
	recording.r = r
	return func() {
		recording.Lock()
		defer recording.Unlock()
		recording.r = old
	}
}

// recorder is the installed Recorder, or nil when calls go to the kernel.
func recorder() Recorder {
	recording.Lock()
	defer recording.Unlock()
	return recording.r
}

// call narrates and makes one system call that returns only an error.
func call(c string, do func() error) error {
	_, err := callValue(c, func() (int, error) { return 0, do() })
	return err
}

// callValue narrates and makes one system call that returns a value, like
// a pid or a file descriptor.
// The line is printed whole once the call returned, in one write, so no
// other goroutine's or process's narration can split it.
func callValue(c string, do func() (int, error)) (int, error) {
	var v int
	var err error
	if r := recorder(); r != nil {
		v, err = r.Record(c)
	} else {
		v, err = do()
	}
	narrate.Line(c + " " + Result(v, err))
	return v, err
}

// Result is a call's result as strace prints it: "= 0", or
// "= -1 EPERM (operation not permitted)" for a failure.
func Result(v int, err error) string {
	var errno unix.Errno
	switch {
	case err == nil:
		return "= " + strconv.Itoa(v)
	case errors.As(err, &errno):
		return fmt.Sprintf("= -1 %s (%s)", unix.ErrnoName(errno), errno.Error())
	default:
		return "= -1 (" + err.Error() + ")"
	}
}

// C quotes s as a C string literal, as strace does.
func C(s string) string { return strconv.Quote(s) }

// cOrNull is C(s), or NULL for an empty optional argument.
func cOrNull(s string) string {
	if s == "" {
		return "NULL"
	}
	return C(s)
}

// cArgv prints an argument vector as strace does: ["sh", "-c", "echo hi"].
func cArgv(argv []string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = C(a)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
