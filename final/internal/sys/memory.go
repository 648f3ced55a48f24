package sys

// memory.go lets a long-lived process give back the pages of its own
// program that it no longer runs.

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// DropProgramPages unmaps from this process the pages of its executable's
// code and read-only data (madvise(2) MADV_DONTNEED on each read-only
// mapping of the file). The kernel counts in a process's RSS every page of
// its program it has mapped, and maps them 64 KB at a time around each
// fault (fault-around), so a process that ran most of a big program once
// keeps most of it resident. The pages stay in the page cache, shared with
// every other process of the program: what runs next faults its pages
// back in, and nothing else is held. Writable mappings (the data, which
// the process changed) are left alone, as MADV_DONTNEED would discard
// their changes.
func DropProgramPages() error {
	exe, err := os.Stat("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("drop program pages: %w", err)
	}
	ino := exe.Sys().(*syscall.Stat_t).Ino
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("drop program pages: %w", err)
	}
	type span struct{ start, end uint64 }
	var spans []span
	// proc(5): "start-end perms offset dev inode path"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[4] != strconv.FormatUint(ino, 10) || strings.ContainsRune(fields[1], 'w') {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 == nil && err2 == nil && end > start {
			spans = append(spans, span{start, end})
		}
	}
	f.Close()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("drop program pages: read /proc/self/maps: %w", err)
	}
	for _, s := range spans {
		err := call(fmt.Sprintf("madvise(%#x, %d, MADV_DONTNEED)", s.start, s.end-s.start), func() error {
			// A raw call: unix.Madvise takes a []byte, and these pages
			// are no Go slice.
			_, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(s.start), uintptr(s.end-s.start), unix.MADV_DONTNEED)
			if errno != 0 {
				return errno
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("drop program pages: %w", err)
		}
	}
	return nil
}

// InheritOnExec clears fd's close-on-exec flag (fcntl(2) F_SETFD), so
// that the program this process execve()s next has it too: Go opens every
// file close-on-exec.
func InheritOnExec(fd int) error {
	err := call(fmt.Sprintf("fcntl(%d, F_SETFD, 0)", fd), func() error {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("keep descriptor %d open across execve: %w", fd, err)
	}
	return nil
}
