package sys

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"box/final/internal/narrate"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// interruptedOnce answers the first call with EINTR, as v1's
// memory.limit_in_bytes does when a signal arrives while it reclaims, and
// every later call with success.
type interruptedOnce struct{ calls []string }

func (r *interruptedOnce) Record(call string) (int, error) {
	r.calls = append(r.calls, call)
	if len(r.calls) == 1 {
		return 0, unix.EINTR
	}
	return 0, nil
}

// TestWriteFileNarratesAnInterruptedWrite checks that a write the kernel
// cut short is printed and made again, as strace would show it: two
// lines, not one.
func TestWriteFileNarratesAnInterruptedWrite(t *testing.T) {
	var out bytes.Buffer
	narrate.Setup(true, &out, false)
	defer narrate.Setup(false, os.Stderr, false)
	r := &interruptedOnce{}
	defer SetRecorder(r)()

	if err := WriteFile("/sys/fs/cgroup/memory/box-1/memory.limit_in_bytes", "67108864"); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	want := []string{
		`write /sys/fs/cgroup/memory/box-1/memory.limit_in_bytes <- "67108864" = -1 EINTR (interrupted system call)`,
		`write /sys/fs/cgroup/memory/box-1/memory.limit_in_bytes <- "67108864" = 0`,
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		got = append(got, strings.TrimSpace(l))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("narration (-want +got):\n%s", diff)
	}
}
