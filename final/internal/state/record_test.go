package state

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestExitRecordSurvivesLostStateWrite records an exit, then puts back the
// state.json of a running container, as when rewriting it failed on a full
// disk: the exit record, written in place, still gives the exit status.
func TestExitRecordSurvivesLostStateWrite(t *testing.T) {
	s := openTestStore(t)
	c, err := s.Create("full", Config{Rootfs: "/r", Command: []string{"sh"}, Detach: true})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	for _, name := range []string{"state.json", exitRecordFile, logReserveFile, "lock", "supervisor.lock", "container.log"} {
		if _, err := os.Stat(filepath.Join(c.Dir(), name)); err != nil {
			t.Errorf("Create did not write %s before the container starts: %v", name, err)
		}
	}
	if err := s.Update(c, func(c *Container) error { c.Status, c.Pid = Running, 1; return nil }); err != nil {
		t.Fatalf("Update: %v", err)
	}
	running, err := os.ReadFile(filepath.Join(c.Dir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	code := 7
	if err := s.Update(c, func(c *Container) error {
		c.Status, c.ExitCode, c.Finished = Exited, &code, time.Now().UTC()
		return nil
	}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir(), "state.json"), running, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("full")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Status != Exited || got.ExitCode == nil || *got.ExitCode != 7 {
		t.Errorf("got status %s, exit code %v; want exited (7) from the exit record", got.Status, got.ExitCode)
	}
	if info, err := os.Stat(filepath.Join(c.Dir(), exitRecordFile)); err != nil || info.Size() != exitRecordSize {
		t.Errorf("the exit record must keep its size, %d: %v %v", exitRecordSize, info, err)
	}
	if err := got.AddDroppedOutput(5); err != nil {
		t.Fatal(err)
	}
	if err := got.AddDroppedOutput(6); err != nil {
		t.Fatal(err)
	}
	if n := got.DroppedOutput(); n != 11 {
		t.Errorf("DroppedOutput = %d, want 11", n)
	}
}

// TestRecordExitAlone records the exit of a run --rm container as its
// supervisor does, in the exit record alone: state.json still says
// running, and every reader (ps -a, inspect, wait) sees the exit.
func TestRecordExitAlone(t *testing.T) {
	s := openTestStore(t)
	c, err := s.Create("gone-soon", Config{Rootfs: "/r", Command: []string{"sh"}, AutoRemove: true})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Update(c, func(c *Container) error { c.Status, c.Pid = Running, 1; return nil }); err != nil {
		t.Fatalf("Update: %v", err)
	}
	before, err := os.ReadFile(filepath.Join(c.Dir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	finished := time.Now().UTC()
	if err := c.RecordExit(3, finished); err != nil {
		t.Fatalf("RecordExit: %v", err)
	}
	after, err := os.ReadFile(filepath.Join(c.Dir(), "state.json"))
	if err != nil || string(after) != string(before) {
		t.Errorf("RecordExit rewrote state.json (%v)", err)
	}
	got, err := s.Get("gone-soon")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Status != Exited || got.ExitCode == nil || *got.ExitCode != 3 || !got.Finished.Equal(finished) {
		t.Errorf("read back: status %s, exit code %v, finished %v; want exited, 3, %v", got.Status, got.ExitCode, got.Finished, finished)
	}
	// A directory in it is not for the one-pass removal: RemoveDir
	// finishes with os.RemoveAll.
	if err := os.MkdirAll(filepath.Join(c.Dir(), "sub", "dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := RemoveDir(c.Dir()); err != nil {
		t.Fatalf("RemoveDir: %v", err)
	}
	if _, err := os.Stat(c.Dir()); !os.IsNotExist(err) {
		t.Errorf("RemoveDir left %s: %v", c.Dir(), err)
	}
}
