package main

// logs.go is the logs command: the output of a detached container, which
// its monitor wrote to a file in the container's state directory.

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"box/final/internal/state"
)

type logsCmd struct {
	Follow    bool   `short:"f" help:"Keep printing what the container writes, until it exits."`
	Container string `arg:"" name:"container" help:"Name or ID of a container started with run -d."`
}

// followPoll is how often logs -f looks for more output: the log is a
// plain file, which has no way to say it grew.
const followPoll = 100 * time.Millisecond

func (l *logsCmd) Run(g *cli) error {
	store, err := g.openStore()
	if err != nil {
		return err
	}
	c, err := store.Get(l.Container)
	if err != nil {
		return err
	}
	if !c.Config.Detach {
		return fmt.Errorf("container %s ran in the foreground, so its output went to the terminal; logs are kept for run -d", c.Name)
	}
	f, err := os.Open(c.LogPath())
	if err != nil {
		return fmt.Errorf("logs of %s: %w", c.Name, err)
	}
	defer f.Close()
	defer reportDropped(c.Name, store, c.ID)
	if _, err := io.Copy(os.Stdout, f); err != nil || !l.Follow {
		return err
	}
	// Follow: copy what is added, until the container has exited and
	// its last output is printed.
	for {
		running := c.CurrentStatus().Live()
		if _, err := io.Copy(os.Stdout, f); err != nil {
			return err
		}
		if !running {
			return nil
		}
		time.Sleep(followPoll)
		if c, err = store.Get(c.ID); err != nil {
			return nil // removed meanwhile (run -d --rm): its output ends here
		}
	}
}

// reportDropped says on stderr, in one line, how much of a container's
// output its log could not take.
func reportDropped(name string, store *state.Store, id string) {
	c, err := store.Get(id)
	if err != nil {
		return
	}
	if n := c.DroppedOutput(); n > 0 {
		fmt.Fprintf(os.Stderr, "%s: %d bytes of %s's output were dropped: the log's filesystem (the state dir %s) was full\n",
			programName, n, name, store.Root())
	}
}

// logWriter appends a detached container's output to its log. What the
// log's filesystem has no space for is dropped, never blocking nor
// failing the container: the count goes to the container's exit record,
// which needs no space (state/record.go), and a line in the log marks the
// place, the first one written in space reserved for it at create.
type logWriter struct {
	c *state.Container
	f *os.File

	mu       sync.Mutex
	dropped  int64 // bytes dropped since the last line that said so
	released bool  // the reserve is spent
	midLine  bool  // the last byte written did not end a line
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dropped > 0 {
		// Space may be back: first say what is missing, here.
		if err := w.line(fmt.Sprintf("%s: %d bytes of output were dropped here: no space left on device", programName, w.dropped)); err != nil {
			w.drop(p)
			return len(p), nil
		}
		w.dropped = 0
	}
	n, err := w.f.Write(p)
	if n > 0 {
		w.midLine = p[n-1] != '\n'
	}
	if err != nil {
		w.drop(p[n:])
	}
	return len(p), nil
}

// drop counts p as dropped; the first time, it frees the reserve and
// marks in the log where output starts missing.
func (w *logWriter) drop(p []byte) {
	if !w.released {
		w.released = true
		w.c.ReleaseLogReserve()
		_ = w.line(fmt.Sprintf("%s: no space left on device for this log (in %s): output is dropped from here", programName, filepath.Dir(w.c.Dir())))
	}
	w.dropped += int64(len(p))
	_ = w.c.AddDroppedOutput(int64(len(p)))
}

// line writes s as a line of its own in the log.
func (w *logWriter) line(s string) error {
	if w.midLine {
		s = "\n" + s
	}
	_, err := w.f.WriteString(s + "\n")
	if err == nil {
		w.midLine = false
	}
	return err
}
