package sys

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Lock takes an flock(2) lock on f: exclusive for a writer, shared for a
// reader; it waits unless nonBlocking, when it fails with EWOULDBLOCK. The
// kernel drops the lock when the last descriptor closes, so a runtime that
// is killed never leaves a stale lock. Not narrated: it is bookkeeping.
func Lock(f *os.File, exclusive, nonBlocking bool) error {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if nonBlocking {
		how |= unix.LOCK_NB
	}
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		return nil
	}
}

// Unlock releases a lock taken with Lock.
func Unlock(f *os.File) error {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_UN); err != nil {
		return fmt.Errorf("unlock %s: %w", f.Name(), err)
	}
	return nil
}

// LockFile opens (creating) the lock file at path and locks it; unlock
// closes it, which releases the lock.
func LockFile(path string, exclusive bool) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := Lock(f, exclusive, false); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
