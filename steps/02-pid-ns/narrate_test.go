package main

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestFlagString(t *testing.T) {
	tests := []struct {
		name  string
		value uintptr
		table []flagName
		want  string
	}{
		{"zero", 0, cloneFlagNames, "0"},
		{"namespaces", unix.CLONE_NEWNS | unix.CLONE_NEWPID, cloneFlagNames, "CLONE_NEWNS|CLONE_NEWPID"},
		{"unknown bit", unix.CLONE_NEWNS | 1<<40, cloneFlagNames, "CLONE_NEWNS|0x10000000000"},
		{"proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, mountFlagNames, "MS_NOSUID|MS_NODEV|MS_NOEXEC"},
		{"recursive private", unix.MS_REC | unix.MS_PRIVATE, mountFlagNames, "MS_REC|MS_PRIVATE"},
		{"read-only remount", unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY, mountFlagNames, "MS_RDONLY|MS_REMOUNT|MS_BIND"},
		{"detach", unix.MNT_DETACH, umountFlagNames, "MNT_DETACH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, flagString(tt.value, tt.table)); diff != "" {
				t.Errorf("flagString(%#x) mismatch (-want +got):\n%s", tt.value, diff)
			}
		})
	}
}

func TestCloneFlagString(t *testing.T) {
	tests := []struct {
		flags uintptr
		want  string
	}{
		{uintptr(unix.SIGCHLD), "SIGCHLD"},
		{unix.CLONE_NEWPID | uintptr(unix.SIGCHLD), "CLONE_NEWPID|SIGCHLD"},
		{unix.CLONE_NEWNS, "CLONE_NEWNS"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, cloneFlagString(tt.flags)); diff != "" {
			t.Errorf("cloneFlagString(%#x) mismatch (-want +got):\n%s", tt.flags, diff)
		}
	}
}

func TestResult(t *testing.T) {
	tests := []struct {
		value int
		err   error
		want  string
	}{
		{0, nil, "= 0"},
		{4242, nil, "= 4242"},
		{0, unix.EINVAL, "= -1 EINVAL (Invalid argument)"},
		{0, errors.New("exec: not started"), "= -1 (exec: not started)"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, result(tt.value, tt.err)); diff != "" {
			t.Errorf("result(%d, %v) mismatch (-want +got):\n%s", tt.value, tt.err, diff)
		}
	}
}

func TestCArgv(t *testing.T) {
	got := cArgv([]string{"sh", "-c", `echo "hi"`})
	if diff := cmp.Diff(`["sh", "-c", "echo \"hi\""]`, got); diff != "" {
		t.Errorf("cArgv mismatch (-want +got):\n%s", diff)
	}
}
