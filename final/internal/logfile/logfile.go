// Package logfile writes a detached container's output to a log whose
// size is capped, as docker's json-file driver caps it with max-size and
// max-file: when container.log would pass MaxSize, it is renamed
// container.log.1 (the .1 before it becomes .2, and so on), the oldest
// beyond MaxFiles is overwritten by the rename, and a new container.log
// is started. So the log never holds more than MaxSize*MaxFiles bytes,
// however fast the container writes, and the newest output is kept.
//
// The writer holds back nothing it is given (output reaches the file as
// it comes) and allocates nothing per write, nor per rotation: it runs in
// the monitor, which lives as long as the container.
package logfile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Writer appends to a log file and rotates it. It is not safe for
// concurrent use.
//
// It makes its calls itself, the ones os would make, on names it built
// once (NUL-terminated, as the kernel takes them), so that a rotation
// allocates nothing either: through os, each made a dozen small objects
// (the *os.File, its Stat, two C strings per rename), garbage that grew
// the monitor's heap by a megabyte between collections under a fast writer.
type Writer struct {
	maxSize  int64 // bytes per file; 0: no cap, no rotation
	maxFiles int   // files kept, the one being written included
	fd       int   // of the current file; -1: none
	size     int64 // of the current file
	// lineStart is where the current file's last line starts: size if
	// it ends with a newline.
	lineStart int64
	// path is the log's name, NUL-terminated; from and to are room for
	// path.N, from the same bytes.
	path, from, to []byte
	// carry is room for the start of a line that a rotation moves to
	// the next file (see Write).
	carry []byte
}

// carryMax is the longest start of a line a rotation moves to the next
// file, so that the line stays whole: a line written in two writes, the
// first of which filled the file (a program's output buffer ends where
// it ends, not at a newline).
const carryMax = 4 << 10

// Open opens the log at path for appending, creating it if need be.
// maxSize 0 means no cap; maxFiles below 1 counts as 1, a single file
// that starts over when full.
func Open(path string, maxSize int64, maxFiles int) (*Writer, error) {
	if maxFiles < 1 {
		maxFiles = 1
	}
	room := len(path) + 1 + 20 + 1 // path "." number NUL
	w := &Writer{maxSize: maxSize, maxFiles: maxFiles, fd: -1,
		path: append([]byte(path), 0), from: make([]byte, 0, room), to: make([]byte, 0, room)}
	if maxSize > 0 {
		w.carry = make([]byte, min(maxSize, carryMax))
	}
	if err := w.open(0); err != nil {
		return nil, err
	}
	return w, nil
}

// name is the log's path, for errors.
func (w *Writer) name() string { return string(w.path[:len(w.path)-1]) }

// open opens the current file with extra flags (O_TRUNC to start over).
func (w *Writer) open(flags int) error {
	// Read too: a rotation reads back the start of a line (see Write).
	fd, err := openat(w.path, unix.O_RDWR|unix.O_CREAT|unix.O_APPEND|unix.O_CLOEXEC|flags, 0o600)
	if err != nil {
		return fmt.Errorf("open log %s: %w", w.name(), err)
	}
	var size int64
	if flags&unix.O_TRUNC == 0 {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return fmt.Errorf("open log %s: %w", w.name(), err)
		}
		size = st.Size
	}
	// A file that was there is taken to end with a whole line.
	w.fd, w.size, w.lineStart = fd, size, size
	return nil
}

// Write appends p. A file is never let grow past the cap: what does not
// fit goes to the next file, cut after the last whole line that fits
// (within a line only when a line is longer than a whole file). A line
// that an earlier write began at the end of the file moves to the next
// file whole, if its start is at most carryMax bytes: so every file
// starts with a whole line, and the oldest one kept holds no line's end
// without its start. n counts the bytes written, so a caller knows what
// an error lost.
func (w *Writer) Write(p []byte) (n int, err error) {
	for len(p) > 0 {
		if w.fd < 0 {
			// A rotation failed half way: try again to have a file.
			if err := w.open(0); err != nil {
				return n, err
			}
		}
		chunk := p
		var head int64 // the start of a line to move to the next file
		if w.maxSize > 0 && w.size+int64(len(chunk)) > w.maxSize {
			room := w.maxSize - w.size
			switch i := bytes.LastIndexByte(chunk[:max(room, 0)], '\n'); {
			case i >= 0:
				chunk = chunk[:i+1]
			case w.size > 0:
				chunk = nil // not even a line fits: rotate first
				head = w.size - w.lineStart
				end := int64(len(p))
				if j := bytes.IndexByte(p, '\n'); j >= 0 {
					end = int64(j + 1)
				}
				if w.lineStart == 0 || head > int64(len(w.carry)) || head+end > w.maxSize {
					head = 0 // the line is longer than a file: it is cut
				}
			default:
				chunk = chunk[:room]
			}
		}
		if len(chunk) > 0 {
			m, err := writeAll(w.fd, chunk)
			if i := bytes.LastIndexByte(chunk[:m], '\n'); i >= 0 {
				w.lineStart = w.size + int64(i+1)
			}
			w.size += int64(m)
			n += m
			p = p[m:]
			if err != nil {
				return n, fmt.Errorf("write log %s: %w", w.name(), err)
			}
		}
		if len(p) > 0 {
			if err := w.rotate(head); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// rotate shifts the files by one and starts a new current file, moving
// to it the last head bytes of the old one, the start of a line. Renames
// need no free space, so a full filesystem does not stop rotation; the
// rename over the oldest file is what frees its space.
func (w *Writer) rotate(head int64) error {
	old, lineStart := w.fd, w.lineStart
	w.fd = -1
	defer unix.Close(old)
	carry := w.carry[:head]
	if head > 0 {
		if m, err := unix.Pread(old, carry, lineStart); err != nil || int64(m) != head {
			carry = nil // unread: it stays where it is
		}
	}
	if w.maxFiles > 1 {
		for i := w.maxFiles - 1; i >= 1; i-- {
			from := w.path
			if i > 1 {
				from = w.numbered(w.from, i-1)
			}
			to := w.numbered(w.to, i)
			if err := renameat(from, to); err != nil && err != unix.ENOENT {
				return fmt.Errorf("rotate log: rename %s to %s: %w", string(from[:len(from)-1]), string(to[:len(to)-1]), err)
			}
		}
	}
	if err := w.open(unix.O_TRUNC); err != nil {
		return err
	}
	if len(carry) == 0 {
		return nil
	}
	// Written here first, then cut from the old file (now path.1; with
	// one file, the same one, emptied): a failure loses nothing.
	if m, err := writeAll(w.fd, carry); err != nil {
		if m > 0 && unix.Ftruncate(w.fd, 0) != nil {
			w.size = int64(m)
		}
		return nil
	}
	w.size, w.lineStart = head, 0
	if w.maxFiles > 1 {
		_ = unix.Ftruncate(old, lineStart)
	}
	return nil
}

// numbered is path.i, NUL-terminated, in buf's room.
func (w *Writer) numbered(buf []byte, i int) []byte {
	buf = append(buf[:0], w.path[:len(w.path)-1]...)
	buf = append(buf, '.')
	buf = strconv.AppendInt(buf, int64(i), 10)
	return append(buf, 0)
}

// Close closes the current file.
func (w *Writer) Close() error {
	if w.fd < 0 {
		return nil
	}
	err := unix.Close(w.fd)
	w.fd = -1
	return err
}

// atFDCWD is AT_FDCWD, a variable so that it converts to uintptr.
var atFDCWD = unix.AT_FDCWD

// openat is open(2) on a NUL-terminated name, relative to the working
// directory as os.OpenFile is, retried on EINTR.
func openat(name []byte, flags int, mode uint32) (int, error) {
	for {
		fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(&name[0])), uintptr(flags), uintptr(mode), 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return -1, errno
		}
		return int(fd), nil
	}
}

// renameat is rename(2) of NUL-terminated names (renameat2 with no flags:
// arm64 has no other).
func renameat(from, to []byte) error {
	_, _, errno := unix.Syscall6(unix.SYS_RENAMEAT2, uintptr(atFDCWD), uintptr(unsafe.Pointer(&from[0])),
		uintptr(atFDCWD), uintptr(unsafe.Pointer(&to[0])), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// writeAll writes p to fd whole, as os.File.Write does, retried on EINTR;
// n counts what was written before an error.
func writeAll(fd int, p []byte) (n int, err error) {
	for n < len(p) {
		m, err := unix.Write(fd, p[n:])
		if err == unix.EINTR {
			continue
		}
		if m > 0 {
			n += m
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.ErrShortWrite
		}
	}
	return n, nil
}

// Name is the name of the i-th rotated file of the log at path: path.i.
func Name(path string, i int) string { return path + "." + strconv.Itoa(i) }

// Files lists the files of the log at path that exist, oldest first: the
// rotated ones from the highest number down, then path itself (listed
// even if missing, since it is the one being written).
func Files(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	entries, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		return nil, fmt.Errorf("logs: %w", err)
	}
	var numbers []int
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(suffix); err == nil && i > 0 && strconv.Itoa(i) == suffix {
			numbers = append(numbers, i)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(numbers)))
	files := make([]string, 0, len(numbers)+1)
	for _, i := range numbers {
		files = append(files, Name(path, i))
	}
	return append(files, path), nil
}
