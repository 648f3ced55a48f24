package runccli

// explain.go decides where box-runc narrates. An engine runs create
// with its stderr going nowhere a learner sees (podman's conmon keeps it),
// and the container's process narrates on what create hands it, so the
// whole story of an engine-driven container is only readable from a file:
// --explain-log FILE. create records the file in the container's state,
// and every later command on that container (start, kill, exec, pause,
// resume, delete) narrates there too, even when the engine leaves the
// flag out, as podman's cleanup does when it runs delete. Each command's
// narration starts with a line naming it as the engine ran it.

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ContainerCommand is a command on one existing container.
type ContainerCommand interface{ ContainerID() string }

func (c *StartCmd) ContainerID() string  { return c.ID }
func (c *KillCmd) ContainerID() string   { return c.ID }
func (c *DeleteCmd) ContainerID() string { return c.ID }

// explainHeader starts a command's narration in an explain log.
const explainHeader = "=== box-runc "

// openExplainLog opens the file this command narrates into: --explain-log,
// or the one the container was created with; nil if neither. It makes
// g.ExplainLog absolute, as create records it for the commands after.
func (g *Globals) openExplainLog(on ContainerCommand) (*os.File, error) {
	if g.ExplainLog == "" && on != nil {
		if ct, err := g.Runtime().Load(on.ContainerID()); err == nil {
			g.ExplainLog = ct.ExplainLog
		}
	}
	if g.ExplainLog == "" {
		return nil, nil
	}
	path, err := filepath.Abs(g.ExplainLog)
	if err != nil {
		return nil, fmt.Errorf("--explain-log %s: %w", g.ExplainLog, err)
	}
	g.ExplainLog = path
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--explain-log: open %s: %w (give a file in a directory that exists)", path, err)
	}
	return f, nil
}

// headed writes a header line before the first narration line, so a
// command that narrates nothing (state, which engines ask often) leaves
// nothing in the log. Package narrate writes one line per call, under
// its lock, and the file is O_APPEND: lines of the processes that share
// it stay whole.
type headed struct {
	w      io.Writer
	header string
}

func (h *headed) Write(p []byte) (int, error) {
	if h.header == "" {
		return h.w.Write(p)
	}
	b := append([]byte(h.header), p...)
	h.header = ""
	if _, err := h.w.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

// explainLogHeader is the line naming a command as the engine ran it.
func explainLogHeader(args []string) string {
	return explainHeader + strings.Join(args, " ") + "\n"
}
