package state

import (
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestCreateGetUpdateRemove(t *testing.T) {
	s := openTestStore(t)
	cfg := Config{Rootfs: "/r", Command: []string{"sh"}}
	c, err := s.Create("web", cfg)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if c.Config.Hostname != c.ShortID() {
		t.Errorf("default hostname = %q, want the short ID %q", c.Config.Hostname, c.ShortID())
	}
	for _, ref := range []string{"web", c.ID, c.ID[:5]} {
		got, err := s.Get(ref)
		if err != nil {
			t.Fatalf("Get(%q): %v", ref, err)
		}
		if got.ID != c.ID {
			t.Errorf("Get(%q) = %s, want %s", ref, got.ID, c.ID)
		}
	}
	code := 3
	if err := s.Update(c, func(c *Container) error { c.Status, c.ExitCode = Exited, &code; return nil }); err != nil {
		t.Fatalf("Update: %v", err)
	}
	got, err := s.Get("web")
	if err != nil {
		t.Fatalf("Get after Update: %v", err)
	}
	if diff := cmp.Diff(c, got, cmp.AllowUnexported(Container{})); diff != "" {
		t.Errorf("stored state mismatch (-want +got):\n%s", diff)
	}
	if err := s.Remove(c); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := s.Get("web"); err == nil || !strings.Contains(err.Error(), "no such container") {
		t.Errorf("Get after Remove error = %v, want no such container", err)
	}
}

func TestBadRefsAndNames(t *testing.T) {
	s := openTestStore(t)
	if _, err := s.Create("web", Config{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		do      func() error
		wantErr string
	}{
		{"name taken", func() error { _, err := s.Create("web", Config{}); return err }, `name "web" is taken`},
		{"bad name", func() error { _, err := s.Create("-x", Config{}); return err }, "is not valid"},
		{"long name", func() error { _, err := s.Create(strings.Repeat("a", 64), Config{}); return err }, "is not valid"},
		{"empty ref", func() error { _, err := s.Get(""); return err }, "no container given"},
		{"unknown ref", func() error { _, err := s.Get("nope"); return err }, "no such container: nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestConcurrentCreateOneName checks the store lock: of many runs that
// want one name at once, exactly one gets it.
func TestConcurrentCreateOneName(t *testing.T) {
	s := openTestStore(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Create("same", Config{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("%d creations of one name succeeded, want exactly 1", ok)
	}
}

func TestSupervisorLock(t *testing.T) {
	s := openTestStore(t)
	c, err := s.Create("", Config{})
	if err != nil {
		t.Fatal(err)
	}
	if Supervised(c.Dir()) {
		t.Fatal("Supervised before anyone holds the lock")
	}
	f, err := s.HoldSupervisor(c)
	if err != nil {
		t.Fatalf("HoldSupervisor: %v", err)
	}
	if !Supervised(c.Dir()) {
		t.Error("not Supervised while the lock is held")
	}
	if _, err := s.HoldSupervisor(c); err == nil {
		t.Error("a second HoldSupervisor succeeded")
	}
	f.Close()
	if err := s.WaitSupervisor(c); err != nil {
		t.Errorf("WaitSupervisor after release: %v", err)
	}
}

func TestProcessStartAndStatus(t *testing.T) {
	start, err := ProcessStart(os.Getpid())
	if err != nil || start == 0 {
		t.Fatalf("ProcessStart(self) = %d, %v", start, err)
	}
	tests := []struct {
		name string
		c    Container
		want Status
	}{
		{"running and alive", Container{Status: Running, Pid: os.Getpid(), PidStart: start}, Running},
		{"pid reused", Container{Status: Running, Pid: os.Getpid(), PidStart: start + 1}, Dead},
		{"exited stays exited", Container{Status: Exited, Pid: os.Getpid()}, Exited},
	}
	for _, tt := range tests {
		if got := tt.c.CurrentStatus(); got != tt.want {
			t.Errorf("%s: CurrentStatus = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestCheckName checks docker's container-name rule at its edges,
// the length above all, which CheckName checks apart from the pattern.
func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"web.1_x-y", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"-x", false},
		{".x", false},
		{"a b", false},
		{"a/b", false},
	}
	for _, tt := range tests {
		if got := CheckName(tt.name) == nil; got != tt.ok {
			t.Errorf("CheckName(%q) ok = %v, want %v", tt.name, got, tt.ok)
		}
	}
}
