// Package logfile writes a detached container's output to a log whose
// size is capped, as docker's json-file driver caps it with max-size and
// max-file: when container.log would pass MaxSize, it is renamed
// container.log.1 (the .1 before it becomes .2, and so on), the oldest
// beyond MaxFiles is overwritten by the rename, and a new container.log
// is started. So the log never holds more than MaxSize*MaxFiles bytes,
// however fast the container writes, and the newest output is kept.
//
// The writer keeps no buffer of its own and allocates nothing per write:
// it runs in the monitor, which lives as long as the container.
package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Writer appends to a log file and rotates it. It is not safe for
// concurrent use.
type Writer struct {
	path     string
	maxSize  int64 // bytes per file; 0: no cap, no rotation
	maxFiles int   // files kept, the one being written included
	f        *os.File
	size     int64 // of f
}

// Open opens the log at path for appending, creating it if need be.
// maxSize 0 means no cap; maxFiles below 1 counts as 1, a single file
// that starts over when full.
func Open(path string, maxSize int64, maxFiles int) (*Writer, error) {
	if maxFiles < 1 {
		maxFiles = 1
	}
	w := &Writer{path: path, maxSize: maxSize, maxFiles: maxFiles}
	if err := w.open(0); err != nil {
		return nil, err
	}
	return w, nil
}

// open opens the current file with extra flags (O_TRUNC to start over).
func (w *Writer) open(flags int) error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|flags, 0o600)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log: %w", err)
	}
	w.f, w.size = f, info.Size()
	return nil
}

// Write appends p. A file is never let grow past the cap: what does not
// fit goes to the next file, cut after the last whole line that fits
// (within a line only when a line is longer than a whole file). n counts
// the bytes written, so a caller knows what an error lost.
func (w *Writer) Write(p []byte) (n int, err error) {
	for len(p) > 0 {
		if w.f == nil {
			// A rotation failed half way: try again to have a file.
			if err := w.open(0); err != nil {
				return n, err
			}
		}
		chunk := p
		if w.maxSize > 0 && w.size+int64(len(chunk)) > w.maxSize {
			room := w.maxSize - w.size
			switch i := bytes.LastIndexByte(chunk[:max(room, 0)], '\n'); {
			case i >= 0:
				chunk = chunk[:i+1]
			case w.size > 0:
				chunk = nil // not even a line fits: rotate first
			default:
				chunk = chunk[:room]
			}
		}
		if len(chunk) > 0 {
			m, err := w.f.Write(chunk)
			w.size += int64(m)
			n += m
			p = p[m:]
			if err != nil {
				return n, err
			}
		}
		if len(p) > 0 {
			if err := w.rotate(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// rotate shifts the files by one and starts a new current file. Renames
// need no free space, so a full filesystem does not stop rotation; the
// rename over the oldest file is what frees its space.
func (w *Writer) rotate() error {
	w.f.Close()
	w.f = nil
	if w.maxFiles == 1 {
		return w.open(os.O_TRUNC)
	}
	for i := w.maxFiles - 1; i >= 1; i-- {
		from := w.path
		if i > 1 {
			from = Name(w.path, i-1)
		}
		if err := os.Rename(from, Name(w.path, i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	return w.open(os.O_TRUNC)
}

// Close closes the current file.
func (w *Writer) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
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
