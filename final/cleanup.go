package main

// cleanup.go is the cleanup command: find and remove what a runtime that
// was killed (kill -9, a crash, a power cut of its terminal) left behind.
// A live container always has a supervisor holding its lock; a container
// without one, that never recorded an exit, was abandoned.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"box/final/internal/narrate"
	"box/final/internal/state"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

type cleanupCmd struct{}

func (cl *cleanupCmd) Run(g *cli) error {
	if err := needRoot("cleanup"); err != nil {
		return err
	}
	store, err := g.openStore()
	if err != nil {
		return err
	}
	dirs, err := store.Dirs()
	if err != nil {
		return err
	}
	removed := 0
	for _, p := range plugins {
		if sw, ok := p.(sweeper); ok {
			found, err := sw.Sweep()
			for _, what := range found {
				fmt.Printf("removed %s: its runtime was killed\n", what)
				removed++
			}
			if err != nil {
				return err
			}
		}
	}
	for _, dir := range dirs {
		if state.Supervised(dir) {
			continue
		}
		c, err := store.LoadDir(dir)
		if err == nil && c.Status == state.Exited {
			// A normal stopped container: keep it for ps -a and rm, but
			// finish what its supervisor may not have.
			if err := removePlugins(c, plugins); err != nil {
				return err
			}
			continue
		}
		name := filepath.Base(dir)
		if err == nil {
			name = c.Name
			if err := killAbandoned(c); err != nil {
				return err
			}
			if err := removePlugins(c, plugins); err != nil {
				return err
			}
		}
		if err := unmountBelow(dir); err != nil {
			return err
		}
		if err := state.RemoveDir(dir); err != nil {
			return err
		}
		fmt.Printf("removed %s: its runtime was killed\n", name)
		removed++
	}
	if removed == 0 {
		fmt.Println("nothing to clean up")
	}
	return nil
}

// killAbandoned kills the init of a container nobody supervises, if it
// somehow outlived its runtime; nobody could stop it otherwise.
func killAbandoned(c *state.Container) error {
	pidfd, err := openContainerProcess(c)
	if errors.Is(err, errNotRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	defer sys.Close(pidfd)
	narrate.Explain(narrate.Process, "Kill %s's init: no runtime supervises it any more.", c.Name)
	if err := sys.PidfdSendSignal(pidfd, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	_, err = sys.WaitExit(pidfd, -1)
	return err
}

// unmountBelow detaches every mount at or below dir in our mount table,
// deepest first, as a killed runtime may have left them (an overlay, a
// tmpfs for its upper dir).
func unmountBelow(dir string) error {
	points, err := mountPoints()
	if err != nil {
		return err
	}
	var below []string
	for _, p := range points {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			below = append(below, p)
		}
	}
	sort.Slice(below, func(i, j int) bool { return len(below[i]) > len(below[j]) })
	for _, p := range below {
		narrate.Explain(narrate.Mount, "Detach %s, left mounted by a killed runtime.", p)
		if err := sys.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return err
		}
	}
	return nil
}

// mountPoints lists the mount points of our mount namespace, from field 5
// of /proc/self/mountinfo (proc(5)), where a space is written \040.
func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		points = append(points, unescapeMountPath(fields[4]))
	}
	return points, sc.Err()
}

// unescapeMountPath decodes the octal escapes (\040, \011, \012, \134) the
// kernel writes in mountinfo paths.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
