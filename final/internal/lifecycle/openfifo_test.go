package lifecycle

import (
	"io"
	"os/exec"
	"path/filepath"
	"testing"

	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// TestOpenFifoAfterTheProcessExited checks start's wait on the exec fifo
// when the container's process is gone: one that wrote its byte before
// it exited, while start's open had not yet reported back, lets start
// read the byte; one that exited without opening the fifo gives start
// nothing to read, instead of an open that blocks for ever.
func TestOpenFifoAfterTheProcessExited(t *testing.T) {
	for _, tc := range []struct {
		name, script, want string
	}{
		{"wrote its byte", `printf 0 > "$1"`, "0"},
		{"never opened it", `exit 0`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), fifoFile)
			if err := unix.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
			opened := make(chan result, 1)
			go func() {
				f, err := sys.OpenFile(path, unix.O_RDONLY, "O_RDONLY|O_CLOEXEC")
				opened <- result{f, err}
			}()
			cmd := exec.Command("/bin/sh", "-c", tc.script, "sh", path)
			if err := cmd.Run(); err != nil {
				t.Fatal(err)
			}
			c := &Container{Pid: cmd.Process.Pid}
			f, err := c.openedAfterExit(path, opened)
			if err != nil {
				t.Fatalf("openedAfterExit: %v", err)
			}
			b, _ := io.ReadAll(f)
			f.Close()
			if string(b) != tc.want {
				t.Errorf("read %q, want %q", b, tc.want)
			}
		})
	}
	t.Run("exits while start waits", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), fifoFile)
		if err := unix.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("/bin/sh", "-c", "sleep 0.05")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		// Our child: a zombie after it exits, which its pidfd reports.
		f, err := (&Container{Pid: cmd.Process.Pid}).openFifo(path)
		if err != nil {
			t.Fatalf("openFifo: %v", err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if len(b) != 0 {
			t.Errorf("read %q, want nothing", b)
		}
	})
}
