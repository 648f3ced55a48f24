// Package pty gives a container a real pseudo-terminal, as docker run -t
// does: the container's init opens a new pair from its own devpts
// (/dev/ptmx), keeps the slave as the command's controlling terminal, and
// sends the master back to the runtime over a unix socket (SCM_RIGHTS).
// The runtime puts the host's terminal in raw mode and copies bytes both
// ways; the terminal discipline inside (echo, line editing, ^C, ^Z, job
// control) is the container's.
package pty

import (
	"fmt"
	"os"
	"strconv"

	"box/final/internal/narrate"
	"box/final/internal/sys"
)

// Open makes a new pseudo-terminal pair from the devpts behind ptmx
// (pts(4)): open the multiplexer, unlock the slave, ask its number, open it.
func Open(ptmx, ptsDir string) (master, slave *os.File, err error) {
	narrate.Explain(narrate.Terminal, "Open a new pseudo-terminal from the container's own devpts.")
	master, err = sys.OpenPtmx(ptmx)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			master.Close()
		}
	}()
	if err := sys.Unlockpt(master); err != nil {
		return nil, nil, err
	}
	n, err := sys.PtsNumber(master)
	if err != nil {
		return nil, nil, err
	}
	slave, err = sys.OpenPts(ptsDir + "/" + strconv.Itoa(n))
	if err != nil {
		return nil, nil, err
	}
	return master, slave, nil
}

// SendMaster hands master to the runtime through the console socket.
func SendMaster(sock, master *os.File) error {
	narrate.Explain(narrate.Terminal, "Send the terminal's master side to the runtime, which relays it to yours.")
	return sys.SendFds(sock, "pty", int(master.Fd()))
}

// ReceiveMaster takes the master side the container's init sent.
func ReceiveMaster(sock *os.File) (*os.File, error) {
	msg, files, err := sys.RecvFds(sock, 1)
	if err != nil {
		return nil, err
	}
	if msg != "pty" || len(files) != 1 {
		for _, f := range files {
			f.Close()
		}
		return nil, fmt.Errorf("console socket: got %q with %d descriptors, want the terminal", msg, len(files))
	}
	return files[0], nil
}
