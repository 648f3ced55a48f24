package main

// logs.go is the logs command: the output of a detached container, which
// its monitor wrote to a log in the container's state directory, capped
// and rotated (run --log-opt, internal/logfile).

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"box/final/internal/cgroups"
	"box/final/internal/logfile"
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
	defer reportDropped(c.Name, store, c.ID)
	// The rotated files first, oldest first; one the monitor rotated away
	// meanwhile is skipped: its output is gone, as max-file says.
	files, err := logfile.Files(c.LogPath())
	if err != nil {
		return fmt.Errorf("logs of %s: %w", c.Name, err)
	}
	for _, name := range files[:len(files)-1] {
		if err := copyFile(name); err != nil {
			return fmt.Errorf("logs of %s: %w", c.Name, err)
		}
	}
	f, err := openCurrent(c.LogPath())
	if err != nil {
		return fmt.Errorf("logs of %s: %w", c.Name, err)
	}
	defer func() { f.Close() }()
	if _, err := io.Copy(os.Stdout, f); err != nil || !l.Follow {
		return err
	}
	// Follow: copy what is added, until the container has exited and
	// its last output is printed. When the monitor rotates the log, the
	// file we hold becomes container.log.1: finish it, then go on in the
	// new container.log. (A log rotated more than once between two looks
	// loses what was in between, as with docker.)
	for {
		running := c.CurrentStatus().Live()
		if _, err := io.Copy(os.Stdout, f); err != nil {
			return err
		}
		if next := rotated(f, c.LogPath()); next != nil {
			f.Close()
			f = next
			continue
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

// copyFile copies the file name to stdout; a file that is gone is
// nothing to copy.
func copyFile(name string) error {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(os.Stdout, f)
	return err
}

// openCurrent opens the file the monitor writes, waiting a moment if it
// is between a rotation's rename and its new file.
func openCurrent(path string) (*os.File, error) {
	for try := 0; ; try++ {
		f, err := os.Open(path)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || try == 10 {
			return f, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rotated opens path if it now names another file than f, the monitor
// having rotated the log; else it returns nil.
func rotated(f *os.File, path string) *os.File {
	held, err := f.Stat()
	if err != nil {
		return nil
	}
	now, err := os.Stat(path)
	if err != nil || os.SameFile(held, now) {
		return nil // not rotated, or its new file is not there yet
	}
	next, err := os.Open(path)
	if err != nil {
		return nil
	}
	return next
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
	f *logfile.Writer

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
	_, err := w.f.Write([]byte(s + "\n"))
	if err == nil {
		w.midLine = false
	}
	return err
}

// Log caps of a detached container by default: docker keeps all output
// unless told, but box keeps logs in its state dir, a tmpfs (memory) by
// default, so an endless writer would fill memory. 10 MB in 3 files keep
// the last 100,000 lines or more of a chatty container, and at most 30 MB.
const (
	defaultLogMaxSize  = 10 << 20
	defaultLogMaxFiles = 3
)

// logFlags are run's options for a detached container's log, named as
// docker's json-file driver names them.
type logFlags struct {
	LogOpt []string `name:"log-opt" sep:"none" placeholder:"KEY=VALUE" help:"With -d, cap the log: max-size=SIZE per file (default 10m; -1: no cap), max-file=N files kept (default 3). The state dir holds logs in memory (a tmpfs), so they are capped unless told; docker does not cap."`
}

// apply checks the options and records them in cfg.
func (f logFlags) apply(cfg *state.Config) error {
	if !cfg.Detach {
		if len(f.LogOpt) > 0 {
			return errors.New("--log-opt applies to run -d: a foreground container's output goes to your terminal, not to a log")
		}
		return nil
	}
	opts := state.LogOptions{MaxSize: defaultLogMaxSize, MaxFiles: defaultLogMaxFiles}
	fileSet := false
	for _, opt := range f.LogOpt {
		key, value, _ := strings.Cut(opt, "=")
		switch key {
		case "max-size":
			if value == "-1" {
				opts.MaxSize = 0
				continue
			}
			n, err := cgroups.ParseSize(value)
			if err != nil {
				return fmt.Errorf("--log-opt max-size: %w, or -1 for no cap", err)
			}
			opts.MaxSize = n
		case "max-file":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				return fmt.Errorf("--log-opt max-file=%s: give how many files to keep, at least 1, like max-file=3", value)
			}
			opts.MaxFiles, fileSet = n, true
		default:
			return fmt.Errorf("--log-opt %q: the options are max-size and max-file, like --log-opt max-size=10m --log-opt max-file=3", opt)
		}
	}
	if opts.MaxSize == 0 {
		if fileSet && opts.MaxFiles > 1 {
			return errors.New("--log-opt max-file needs a max-size: with max-size=-1 the log is one file that grows without end")
		}
		opts.MaxFiles = 1
	}
	cfg.Log = &opts
	return nil
}

// logConfig is how inspect shows a container's log options: as docker's
// LogConfig.Config, in the words --log-opt takes.
func logConfig(c *state.Container) map[string]string {
	if c.Config.Log == nil {
		return nil
	}
	if c.Config.Log.MaxSize == 0 {
		return map[string]string{"max-size": "-1"}
	}
	return map[string]string{"max-size": cgroups.FormatSize(c.Config.Log.MaxSize), "max-file": strconv.Itoa(c.Config.Log.MaxFiles)}
}

// openLog opens c's log for its monitor, with c's caps.
func openLog(c *state.Container) (*logfile.Writer, error) {
	var opts state.LogOptions
	if c.Config.Log != nil {
		opts = *c.Config.Log
	}
	return logfile.Open(c.LogPath(), opts.MaxSize, opts.MaxFiles)
}
