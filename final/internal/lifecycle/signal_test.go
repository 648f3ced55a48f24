package lifecycle

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]unix.Signal{"TERM": unix.SIGTERM, "SIGTERM": unix.SIGTERM, "15": unix.SIGTERM,
		"kill": unix.SIGKILL, "9": unix.SIGKILL, "SIGUSR1": unix.SIGUSR1} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"NOPE", "0", "65", "-1"} {
		if _, err := ParseSignal(bad); err == nil {
			t.Errorf("ParseSignal(%q) succeeded", bad)
		}
	}
}

func TestInRootStaysInside(t *testing.T) {
	root := t.TempDir()
	// An image's links may point anywhere: they resolve as if root were /.
	if err := os.Symlink("/etc", root+"/abs"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../..", root+"/up"); err != nil {
		t.Fatal(err)
	}
	for dest, want := range map[string]string{"/a/b": root + "/a/b", "../../etc": root + "/etc", "/x/../../y": root + "/y",
		"/abs/passwd": root + "/etc/passwd", "/up/etc": root + "/etc"} {
		got, err := inRoot(root, dest)
		if err != nil || got != want {
			t.Errorf("inRoot(%q) = %q, %v; want %q", dest, got, err, want)
		}
	}
}
