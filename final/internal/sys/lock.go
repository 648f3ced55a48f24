package sys

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Lock takes an flock(2) lock on f: exclusive for a writer, shared for a
// reader; it waits unless nonBlocking, when it fails with EWOULDBLOCK. The
// kernel drops the lock when the last descriptor closes, so a runtime that
// is killed never leaves a stale lock. The call is printed once it
// returned, with the file's name.
func Lock(f *os.File, exclusive, nonBlocking bool) error {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if nonBlocking {
		how |= unix.LOCK_NB
	}
	c := fmt.Sprintf("flock(%d /* %s */, %s)", f.Fd(), f.Name(), FlagString(uintptr(how), flockNames))
	err := call(c, func() error {
		for {
			if err := unix.Flock(int(f.Fd()), how); err != unix.EINTR {
				return err
			}
		}
	})
	if err != nil {
		return fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return nil
}

// flockNames are the operations of flock(2).
var flockNames = []flagName{
	{unix.LOCK_SH, "LOCK_SH"},
	{unix.LOCK_EX, "LOCK_EX"},
	{unix.LOCK_NB, "LOCK_NB"},
	{unix.LOCK_UN, "LOCK_UN"},
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
