package pty

import (
	"io"
	"os"
	"os/signal"

	"box/final/internal/narrate"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// Relay copies between the host's terminal (in, out) and the container's
// terminal master until the container's side is closed, as docker attach
// does. If in is a terminal it is put in raw mode, and its size follows
// the host's: on SIGWINCH the new size is set on the master, and the
// kernel signals the container's foreground job.
type Relay struct {
	master  *os.File
	in      *os.File
	saved   *sys.Termios
	winch   chan os.Signal
	outDone chan struct{}
}

// StartRelay starts copying; in may be nil (run -d -t: output only).
func StartRelay(master, in *os.File, out io.Writer) (*Relay, error) {
	r := &Relay{master: master, in: in, outDone: make(chan struct{})}
	if in != nil && sys.IsTerminal(int(in.Fd())) {
		narrate.Explain(narrate.Terminal, "Put your terminal in raw mode: keys go to the container's terminal, which echoes and edits itself.")
		saved, err := sys.MakeRaw(int(in.Fd()))
		if err != nil {
			return nil, err
		}
		r.saved = saved
		r.winch = make(chan os.Signal, 1)
		signal.Notify(r.winch, unix.SIGWINCH)
		go r.followSize()
	}
	go func() {
		copyOutput(out, master)
		close(r.outDone)
	}()
	if in != nil {
		go func() { _, _ = io.Copy(master, in) }()
	}
	return r, nil
}

// copyOutput copies the container's output until every slave side is
// closed, when reading the master fails with EIO: that is how a
// pseudo-terminal says "end of file".
func copyOutput(out io.Writer, master *os.File) {
	buf := make([]byte, 32*1024)
	for {
		n, err := master.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EIO once the last slave closes; anything else ends it too
		}
	}
}

// followSize sets the master's size to the host terminal's, on SIGWINCH.
func (r *Relay) followSize() {
	for range r.winch {
		if size, err := sys.GetWinsize(int(r.in.Fd())); err == nil {
			_ = sys.SetWinsize(int(r.master.Fd()), size)
		}
	}
}

// Wait waits until the container's terminal is closed and all its output
// copied, then restores the host's terminal.
func (r *Relay) Wait() {
	<-r.outDone
	r.Close()
}

// Close restores the host's terminal without waiting for output.
func (r *Relay) Close() {
	if r.winch != nil {
		signal.Stop(r.winch)
		close(r.winch)
		r.winch = nil
	}
	if r.saved != nil {
		_ = sys.RestoreTerminal(int(r.in.Fd()), r.saved)
		r.saved = nil
	}
}
