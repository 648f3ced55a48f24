// Command launcher starts runtime invocations for the benchmark and
// measures each one: the wall time from fork to wait4, and from wait4's
// rusage the CPU time and the peak RSS of the process tree it reaped.
//
// It is a program of its own, and a small one, because of how the kernel
// counts ru_maxrss: at execve it records the peak RSS of the memory the
// process leaves (fs/exec.c, setmax_mm_hiwater_rss), and Go starts
// children with CLONE_VM, so that memory is the parent's. Every runtime
// started from the benchmark itself would show at least the benchmark's
// peak; started from here, at least this launcher's (about 2 MB, built
// with CGO_ENABLED=0), which the benchmark measures and prints as the
// floor. So it imports only what it needs, and allocates little.
//
// Protocol: one request per line on stdin, argv joined by NUL; one reply
// per line on stdout, "ok WALL_NS CPU_NS MAXRSS_KIB WAITSTATUS" or
// "error MESSAGE". A request may hold several commands separated by SOH
// (\x01), such as an OCI runtime's create, start and delete: they run one
// after the other until one fails, and the reply sums their wall and CPU
// times, with the largest peak RSS and the last wait status. The runtime gets fd 3 as its stdin and stdout, and fd 4
// as its stderr. With the argument "mask-cgroup2", the launcher first
// binds /dev/null over /sys/fs/cgroup/unified/cgroup.controllers; the
// benchmark starts it in a mount namespace of its own for that.
package main

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hybridControllers lists the controllers of a hybrid host's cgroup2 mount.
const hybridControllers = "/sys/fs/cgroup/unified/cgroup.controllers"

// The runtime's descriptors, as the benchmark passes them to us.
const (
	devNull = 3
	stderr  = 4
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "mask-cgroup2" {
		if err := syscall.Mount(os.DevNull, hybridControllers, "", syscall.MS_BIND, ""); err != nil {
			os.Stderr.WriteString("launcher: bind /dev/null over " + hybridControllers + ": " + err.Error() + "\n")
			os.Exit(1)
		}
	}
	in := bufio.NewReader(os.Stdin)
	attr := &syscall.ProcAttr{
		Env:   []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Files: []uintptr{devNull, devNull, stderr},
	}
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			return // the benchmark closed our stdin: done
		}
		if _, err := os.Stdout.WriteString(sequence(strings.TrimSuffix(line, "\n"), attr)); err != nil {
			return
		}
	}
}

// sequence runs the commands of one request in order, until one fails,
// and sums their measurements up into one reply.
func sequence(request string, attr *syscall.ProcAttr) string {
	var wall, cpu, maxRSS int64
	var status syscall.WaitStatus
	for _, command := range strings.Split(request, "\x01") {
		argv := strings.Split(command, "\x00")
		m, err := spawn(argv, attr)
		if err != nil {
			return "error " + err.Error() + "\n"
		}
		wall += m.wall
		cpu += m.cpu
		if m.maxRSS > maxRSS {
			maxRSS = m.maxRSS
		}
		if status = m.status; status != 0 {
			break
		}
	}
	return "ok " + strconv.FormatInt(wall, 10) + " " + strconv.FormatInt(cpu, 10) + " " +
		strconv.FormatInt(maxRSS, 10) + " " + strconv.FormatInt(int64(status), 10) + "\n"
}

// measurement is one command's: nanoseconds, KiB, and how it ended.
type measurement struct {
	wall, cpu, maxRSS int64
	status            syscall.WaitStatus
}

// spawn runs argv once, timed from fork to wait4.
func spawn(argv []string, attr *syscall.ProcAttr) (measurement, error) {
	start := time.Now()
	pid, err := syscall.ForkExec(argv[0], argv, attr)
	if err != nil {
		return measurement{}, errors.New("start " + argv[0] + ": " + err.Error())
	}
	var status syscall.WaitStatus
	var usage syscall.Rusage
	for {
		_, err = syscall.Wait4(pid, &status, 0, &usage)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	wall := time.Since(start)
	if err != nil {
		return measurement{}, errors.New("wait4 " + argv[0] + ": " + err.Error())
	}
	return measurement{wall: int64(wall), cpu: usage.Utime.Nano() + usage.Stime.Nano(),
		maxRSS: usage.Maxrss, status: status}, nil
}
