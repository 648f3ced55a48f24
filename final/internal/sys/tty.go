package sys

import (
	"fmt"
	"os"

	"box/final/internal/narrate"

	"golang.org/x/sys/unix"
)

// Winsize is a terminal's size in characters.
type Winsize struct {
	Rows, Cols uint16
}

// IsTerminal tells whether fd is a terminal. It only reads.
func IsTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// OpenPtmx opens a new pseudo-terminal pair's master side through the
// multiplexer at path (pts(4)).
func OpenPtmx(path string) (*os.File, error) {
	c := fmt.Sprintf("openat(AT_FDCWD, %s, O_RDWR|O_NOCTTY|O_CLOEXEC)", C(path))
	fd, err := callValue(c, func() (int, error) { return unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0) })
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Unlockpt unlocks the slave side of master, as unlockpt(3) does.
func Unlockpt(master *os.File) error {
	c := fmt.Sprintf("ioctl(%d, TIOCSPTLCK, [0])", master.Fd())
	err := call(c, func() error { return unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0) })
	if err != nil {
		return fmt.Errorf("unlock pty: %w", err)
	}
	return nil
}

// PtsNumber is N in /dev/pts/N for master, as ptsname(3) finds it.
func PtsNumber(master *os.File) (int, error) {
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	// Printed once made, as strace does, with what the kernel filled in.
	narrate.Line(fmt.Sprintf("ioctl(%d, TIOCGPTN, [%d]) %s", master.Fd(), n, Result(0, err)))
	if err != nil {
		return 0, fmt.Errorf("pty number: %w", err)
	}
	return int(n), nil
}

// OpenPts opens a pseudo-terminal's slave side. O_NOCTTY: the opener
// takes it as controlling terminal explicitly, with Setctty.
func OpenPts(path string) (*os.File, error) {
	c := fmt.Sprintf("openat(AT_FDCWD, %s, O_RDWR|O_NOCTTY|O_CLOEXEC)", C(path))
	fd, err := callValue(c, func() (int, error) { return unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0) })
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Setctty makes the terminal on fd this session's controlling terminal;
// the caller must be a session leader (setsid) with no terminal yet.
func Setctty(fd int) error {
	err := call(fmt.Sprintf("ioctl(%d, TIOCSCTTY, 0)", fd), func() error { return unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0) })
	if err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	return nil
}

// GetWinsize reads the size of the terminal on fd. It only reads.
func GetWinsize(fd int) (Winsize, error) {
	ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
	if err != nil {
		return Winsize{}, fmt.Errorf("terminal size: %w", err)
	}
	return Winsize{Rows: ws.Row, Cols: ws.Col}, nil
}

// SetWinsize sets the size of the terminal on fd; the kernel sends
// SIGWINCH to its foreground process group, so programs redraw.
func SetWinsize(fd int, size Winsize) error {
	c := fmt.Sprintf("ioctl(%d, TIOCSWINSZ, {ws_row=%d, ws_col=%d})", fd, size.Rows, size.Cols)
	err := call(c, func() error {
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: size.Rows, Col: size.Cols})
	})
	if err != nil {
		return fmt.Errorf("set terminal size: %w", err)
	}
	return nil
}

// Termios is a terminal's saved mode, to put back with RestoreTerminal.
type Termios = unix.Termios

// MakeRaw puts the terminal on fd in raw mode, as cfmakeraw(3) does: no
// echo, no line editing, no signals from ^C, so every key goes through to
// the container's terminal, which does those things itself.
func MakeRaw(fd int) (*Termios, error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("read terminal mode: %w", err)
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	err = call(fmt.Sprintf("ioctl(%d, TCSETS, {c_lflag=~(ECHO|ICANON|ISIG|IEXTEN), ...})", fd), func() error {
		return unix.IoctlSetTermios(fd, unix.TCSETS, &raw)
	})
	if err != nil {
		return nil, fmt.Errorf("set raw mode: %w", err)
	}
	return old, nil
}

// RestoreTerminal puts back a mode saved by MakeRaw.
func RestoreTerminal(fd int, mode *Termios) error {
	err := call(fmt.Sprintf("ioctl(%d, TCSETS, {saved mode})", fd), func() error {
		return unix.IoctlSetTermios(fd, unix.TCSETS, mode)
	})
	if err != nil {
		return fmt.Errorf("restore terminal mode: %w", err)
	}
	return nil
}
