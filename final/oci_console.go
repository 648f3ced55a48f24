package main

// oci_console.go is the engine's end of --console-socket, for a learner
// who drives box-runc by hand: with process.terminal the container's
// process sends the master side of its pseudo-terminal over a unix socket
// the engine listens on (SCM_RIGHTS), and the engine relays it to a user
// (podman run -it). box-runc console is that listener and relay, and
// nothing more: one container, one terminal.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"box/final/internal/narrate"
	"box/final/internal/pty"
	"box/final/internal/sys"
)

type ociConsoleCmd struct {
	Socket string `arg:"" name:"socket" help:"The unix socket to listen on; give the same path to create --console-socket."`
}

func (c *ociConsoleCmd) Run(g *ociCLI) error {
	path, err := filepath.Abs(c.Socket)
	if err != nil {
		return fmt.Errorf("console socket %s: %w", c.Socket, err)
	}
	// A stream socket, as engines make it; closing the listener removes
	// the file.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("console socket: %w (remove a stale %s, or pick another path)", err, path)
	}
	defer l.Close()
	conn, err := l.AcceptUnix()
	if err != nil {
		return fmt.Errorf("console socket %s: %w", path, err)
	}
	defer conn.Close()
	sock, err := conn.File() // a blocking copy, for recvmsg
	if err != nil {
		return fmt.Errorf("console socket %s: %w", path, err)
	}
	defer sock.Close()
	narrate.Explain(narrate.Terminal, "Receive the terminal's master side the container's process sends (SCM_RIGHTS).")
	_, files, err := sys.RecvFds(sock, 1)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return errors.New("console socket: the message carried no descriptor: is the other end a runtime's --console-socket?")
	}
	master := files[0]
	defer master.Close()
	if sys.IsTerminal(0) {
		// The container's terminal starts at our size (process.consoleSize
		// aside); the relay follows our changes.
		if size, err := sys.GetWinsize(0); err == nil {
			_ = sys.SetWinsize(int(master.Fd()), size)
		}
	}
	r, err := pty.StartRelay(master, os.Stdin, os.Stdout)
	if err != nil {
		return err
	}
	r.Wait()
	return nil
}
