package initproc

import (
	"os/exec"
	"syscall"
	"testing"
)

// TestExitStatus checks the shell's convention on real children: the exit
// code, or 128+N for a process killed by signal N.
func TestExitStatus(t *testing.T) {
	tests := []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{"kill -TERM $$", 128 + int(syscall.SIGTERM)},
		{"kill -KILL $$", 128 + int(syscall.SIGKILL)},
	}
	for _, tt := range tests {
		cmd := exec.Command("/bin/sh", "-c", tt.script)
		_ = cmd.Run()
		ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok {
			t.Fatalf("no wait status for %q", tt.script)
		}
		if got := ExitStatus(ws); got != tt.want {
			t.Errorf("ExitStatus(%q) = %d, want %d", tt.script, got, tt.want)
		}
	}
}
