package security

import (
	"testing"

	"box/final/internal/golden"
	"box/final/internal/sys"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// TestDefaultCapsMask checks the set against the CapEff docker shows
// (grep CapEff /proc/self/status in docker run): 00000000a80425fb.
func TestDefaultCapsMask(t *testing.T) {
	if got := CapMask(DefaultCaps); got != 0xa80425fb {
		t.Errorf("CapMask(DefaultCaps) = %#x, want 0xa80425fb (%s)", got, sys.CapSetString(0xa80425fb))
	}
}

func TestCapsToDrop(t *testing.T) {
	got := capsToDrop(CapMask([]int{unix.CAP_CHOWN, unix.CAP_KILL}), unix.CAP_KILL+1)
	want := []int{unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH, unix.CAP_FOWNER, unix.CAP_FSETID, unix.CAP_SETGID}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("capsToDrop mismatch (-want +got):\n%s", diff)
	}
}

// TestProtectKernelFiles records the masking calls against a kernel that
// has /proc/acpi and /sys/firmware as directories and lacks /proc/scsi,
// and checks that each kind of answer leads to the right next call.
func TestProtectKernelFiles(t *testing.T) {
	s := &sys.Script{Errors: map[string]error{
		`mount("/dev/null", "/proc/acpi"`:     unix.ENOTDIR,
		`mount("/dev/null", "/sys/firmware"`:  unix.ENOTDIR,
		`mount("/dev/null", "/proc/scsi"`:     unix.ENOENT,
		`mount("/proc/fs", "/proc/fs"`:        unix.ENOENT,
		`mount("/dev/null", "/proc/asound"`:   unix.ENOENT,
		`mount("/dev/null", "/sys/devices/v`:  unix.ENOENT,
		`mount("/dev/null", "/proc/timer_st`:  unix.ENOENT,
		`mount("/dev/null", "/proc/latency_s`: unix.ENOENT,
	}}
	out, err := sys.RecordNarration(s, ProtectKernelFiles)
	if err != nil {
		t.Fatalf("ProtectKernelFiles: %v", err)
	}
	golden.Compare(t, "protect_kernel_files", out)
}

// TestProtectKernelFilesFails checks that an unexpected error stops it.
func TestProtectKernelFilesFails(t *testing.T) {
	s := &sys.Script{Errors: map[string]error{`mount("/dev/null", "/proc/kcore"`: unix.EPERM}}
	if _, err := sys.RecordNarration(s, ProtectKernelFiles); err == nil {
		t.Fatal("ProtectKernelFiles succeeded although masking /proc/kcore failed with EPERM")
	}
}
