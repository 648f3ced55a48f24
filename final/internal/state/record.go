package state

// record.go keeps a container's exit status safe from a full disk. The
// state dir is a tmpfs of limited size by default (/run), and a detached
// container's log lives there too, so it can fill up while the container
// runs; rewriting state.json then fails (a new file needs new pages). So
// Create writes, before the container starts, a record of fixed size full
// of spaces, and the exit status is written over it in place: a write
// within a file's existing size needs no new space. Readers of state.json
// apply the record when state.json did not get the exit.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"box/final/internal/plainjson"

	"golang.org/x/sys/unix"
)

// exitRecordFile is the record's name in the container's directory.
const exitRecordFile = "exit.json"

// exitRecordSize is the record's fixed size: its JSON is far shorter.
const exitRecordSize = 512

// exitRecord is what the record holds: how the container ended, and how
// much of its output its log could not hold.
type exitRecord struct {
	ExitCode *int      `json:"exitCode,omitempty"`
	Finished time.Time `json:"finished,omitempty"`
	// DroppedBytes counts the output of a detached container that its log
	// could not take, the state dir being full.
	DroppedBytes int64 `json:"droppedBytes,omitempty"`
}

// ErrStateDirFull says the state dir has no space left; the message names
// the fix.
var ErrStateDirFull = errors.New("no space left on device")

// fullError turns ENOSPC (and EDQUOT) from a write in the state dir into
// one line that says what to do.
func fullError(root, what string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("state dir %s is full, so %s failed: free space there, or choose another --state-dir: %w", root, what, ErrStateDirFull)
	}
	return err
}

// reserve writes what must exist before the container starts: its lock
// files, its exit record, and for a detached one its log and the space
// for a line in it, so that none of them needs space later.
func (c *Container) reserve() error {
	for _, name := range []string{"lock", "supervisor.lock"} {
		if err := touchFile(filepath.Join(c.dir, name)); err != nil {
			return err
		}
	}
	if c.Config.Detach {
		if err := touchFile(c.LogPath()); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(c.dir, logReserveFile), make([]byte, logReserveSize), 0o600); err != nil {
			return err
		}
	}
	return writeFile(filepath.Join(c.dir, exitRecordFile), bytes.Repeat([]byte{' '}, exitRecordSize), 0o600)
}

// readExitRecord reads the record in dir; an empty one (all spaces), or
// none (a container made by an older runtime), is the zero record.
func readExitRecord(dir string) (exitRecord, error) {
	path := filepath.Join(dir, exitRecordFile)
	b, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return exitRecord{}, nil
	}
	if err != nil {
		return exitRecord{}, fmt.Errorf("read %s: %w", path, err)
	}
	return parseExitRecord(path, b)
}

// parseExitRecord reads the record's text b, read from path.
func parseExitRecord(path string, b []byte) (exitRecord, error) {
	var rec exitRecord
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return rec, nil
	}
	if err := decodeExitRecord(b, &rec); err != nil {
		return rec, fmt.Errorf("read %s: %w", path, err)
	}
	return rec, nil
}

// encodeExitRecord is json.Marshal(rec), by hand: the record is written
// at every exit, in a process that lives a few milliseconds more
// (configjson.go says why that matters).
func encodeExitRecord(rec exitRecord) ([]byte, error) {
	finished, err := rec.Finished.MarshalJSON()
	if err != nil {
		return json.Marshal(rec) // and its error
	}
	b := make([]byte, 0, 96)
	b = append(b, '{')
	if rec.ExitCode != nil {
		b = append(b, `"exitCode":`...)
		b = strconv.AppendInt(b, int64(*rec.ExitCode), 10)
		b = append(b, ',')
	}
	b = append(b, `"finished":`...)
	b = append(b, finished...)
	if rec.DroppedBytes != 0 {
		b = append(b, `,"droppedBytes":`...)
		b = strconv.AppendInt(b, rec.DroppedBytes, 10)
	}
	return append(b, '}'), nil
}

// decodeExitRecord is json.Unmarshal(b, rec), read by hand when it can be.
func decodeExitRecord(b []byte, rec *exitRecord) error {
	return plainjson.Unmarshal(b, rec, readExitJSON)
}

// readExitJSON reads what encodeExitRecord writes.
func readExitJSON(b []byte, rec *exitRecord) error {
	r := plainjson.NewReader(b)
	err := r.Fields([]string{"exitCode", "finished", "droppedBytes"}, func(name string) error {
		switch name {
		case "exitCode":
			return plainjson.Pointer(r, &rec.ExitCode, func(n *int) error { return readInt(r, n) })
		case "finished":
			return r.Unmarshaler(&rec.Finished)
		default: // "droppedBytes"
			return r.Int(&rec.DroppedBytes, 64)
		}
	})
	if err != nil {
		return err
	}
	return r.End()
}

// updateExitRecord changes the record in dir in place, never past its
// size, so it needs no space on the filesystem. It is read and written
// through one descriptor.
func updateExitRecord(dir string, change func(*exitRecord)) error {
	path := filepath.Join(dir, exitRecordFile)
	// No O_CREAT: a record that is not there cannot be written without
	// space, and an older runtime's container has none.
	fd, err := openRaw(path, unix.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer unix.Close(fd)
	old := make([]byte, exitRecordSize+1)
	n, err := unix.Pread(fd, old, 0)
	for err == unix.EINTR {
		n, err = unix.Pread(fd, old, 0)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	rec, err := parseExitRecord(path, old[:n])
	if err != nil {
		return err
	}
	change(&rec)
	b, err := encodeExitRecord(rec)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if len(b) > exitRecordSize {
		return fmt.Errorf("write %s: record of %d bytes is larger than its %d", path, len(b), exitRecordSize)
	}
	b = append(b, bytes.Repeat([]byte{' '}, exitRecordSize-len(b))...)
	if err := writeAll(fd, path, b, 0); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// RecordExit records c's exit in its exit record alone, in place, and not
// in state.json: for a container whose state dir is removed right after
// (run --rm), so rewriting state.json would be work for nothing. Readers
// of state.json (ps -a, inspect, wait) apply the record, so they see the
// exit all the same until the dir is gone.
func (c *Container) RecordExit(code int, finished time.Time) error {
	if err := updateExitRecord(c.dir, func(rec *exitRecord) { rec.ExitCode, rec.Finished = &code, finished }); err != nil {
		return err
	}
	c.Status, c.ExitCode, c.Finished = Exited, &code, finished
	return nil
}

// applyExitRecord fills in from the record an exit that state.json lacks.
func (c *Container) applyExitRecord() error {
	rec, err := readExitRecord(c.dir)
	if err != nil {
		return err
	}
	if rec.ExitCode != nil && c.ExitCode == nil {
		c.Status, c.ExitCode, c.Finished = Exited, rec.ExitCode, rec.Finished
	}
	return nil
}

// AddDroppedOutput counts n more bytes of c's output that its log could
// not take; the count is kept in the exit record, which needs no space.
func (c *Container) AddDroppedOutput(n int64) error {
	return updateExitRecord(c.dir, func(rec *exitRecord) { rec.DroppedBytes += n })
}

// DroppedOutput is how many bytes of c's output its log could not take.
func (c *Container) DroppedOutput() int64 {
	rec, err := readExitRecord(c.dir)
	if err != nil {
		return 0
	}
	return rec.DroppedBytes
}

// logReserveFile holds space, taken when a detached container is created,
// that its monitor frees to write into the log that output was dropped.
const logReserveFile = "log.reserve"

// logReserveSize is one page: more than the marker line needs.
const logReserveSize = 4096

// ReleaseLogReserve frees the space held for the log's marker line.
func (c *Container) ReleaseLogReserve() {
	_ = os.Remove(filepath.Join(c.dir, logReserveFile))
}
