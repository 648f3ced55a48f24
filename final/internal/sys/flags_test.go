package sys

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
		{"zero", 0, CloneFlagNames, "0"},
		{"namespaces", unix.CLONE_NEWNS | unix.CLONE_NEWPID, CloneFlagNames, "CLONE_NEWNS|CLONE_NEWPID"},
		{"unknown bit", unix.CLONE_NEWNS | 1<<40, CloneFlagNames, "CLONE_NEWNS|0x10000000000"},
		{"proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, MountFlagNames, "MS_NOSUID|MS_NODEV|MS_NOEXEC"},
		{"recursive private", unix.MS_REC | unix.MS_PRIVATE, MountFlagNames, "MS_REC|MS_PRIVATE"},
		{"read-only remount", unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY, MountFlagNames, "MS_RDONLY|MS_REMOUNT|MS_BIND"},
		{"detach", unix.MNT_DETACH, UmountFlagNames, "MNT_DETACH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, FlagString(tt.value, tt.table)); diff != "" {
				t.Errorf("FlagString(%#x) mismatch (-want +got):\n%s", tt.value, diff)
			}
		})
	}
}

func TestCloneFlagString(t *testing.T) {
	tests := []struct {
		flags uintptr
		want  string
	}{
		{0, "0"},
		{uintptr(unix.SIGCHLD), "SIGCHLD"},
		{unix.CLONE_NEWPID | uintptr(unix.SIGCHLD), "CLONE_NEWPID|SIGCHLD"},
		{unix.CLONE_NEWNS, "CLONE_NEWNS"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, CloneFlagString(tt.flags)); diff != "" {
			t.Errorf("CloneFlagString(%#x) mismatch (-want +got):\n%s", tt.flags, diff)
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
		{0, unix.EINVAL, "= -1 EINVAL (invalid argument)"},
		{0, errors.New("exec: not started"), "= -1 (exec: not started)"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Result(tt.value, tt.err)); diff != "" {
			t.Errorf("Result(%d, %v) mismatch (-want +got):\n%s", tt.value, tt.err, diff)
		}
	}
}

func TestCapSetString(t *testing.T) {
	tests := []struct {
		set  uint64
		want string
	}{
		{0, "0"},
		{1<<unix.CAP_CHOWN | 1<<unix.CAP_KILL, "CAP_CHOWN|CAP_KILL"},
		{1 << 63, "63"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, CapSetString(tt.set)); diff != "" {
			t.Errorf("CapSetString(%#x) mismatch (-want +got):\n%s", tt.set, diff)
		}
	}
}

func TestRecorderStandsInForTheKernel(t *testing.T) {
	s := &Script{Errors: map[string]error{`pivot_root(`: unix.EINVAL}}
	out, err := RecordNarration(s, func() error {
		if err := Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return err
		}
		return PivotRoot(".", ".")
	})
	if !errors.Is(err, unix.EINVAL) {
		t.Fatalf("PivotRoot error = %v, want EINVAL from the script", err)
	}
	want := "  mount(\"\", \"/\", \"\", MS_REC|MS_PRIVATE, NULL) = 0\n  pivot_root(\".\", \".\") = -1 EINVAL (invalid argument)\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("narration mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`mount("", "/", "", MS_REC|MS_PRIVATE, NULL)`, `pivot_root(".", ".")`}, s.Calls); diff != "" {
		t.Errorf("recorded calls mismatch (-want +got):\n%s", diff)
	}
}
