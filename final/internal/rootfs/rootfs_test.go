package rootfs

import (
	"strings"
	"testing"

	"box/final/internal/golden"
	"box/final/internal/state"
	"box/final/internal/sys"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// TestSetupCalls records what Prepare and Enter ask of the kernel for a
// rootfs with a read-only volume, and compares it with the golden file.
// The rootfs path does not exist, so nothing touches the disk.
func TestSetupCalls(t *testing.T) {
	spec := Spec{Rootfs: "/nonexistent/rootfs", Volumes: []state.Volume{{Host: "/", Container: "/data", ReadOnly: true}}}
	out, err := sys.RecordNarration(&sys.Script{}, func() error {
		if err := Prepare(spec); err != nil {
			return err
		}
		if err := Enter(spec); err != nil {
			return err
		}
		return MakeReadOnly()
	})
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	golden.Compare(t, "setup", out)
}

// TestSetupStopsAtFirstFailure checks that a failed pivot_root on a normal
// root is reported with the path, and nothing after it is tried.
func TestSetupStopsAtFirstFailure(t *testing.T) {
	s := &sys.Script{Errors: map[string]error{`pivot_root(`: unix.EBUSY}}
	_, err := sys.RecordNarration(s, func() error { return Enter(Spec{Rootfs: "/nonexistent/rootfs"}) })
	if err == nil || !strings.Contains(err.Error(), "pivot_root .: device or resource busy") {
		t.Fatalf("Enter error = %v, want the pivot_root failure", err)
	}
	if last := s.Calls[len(s.Calls)-1]; !strings.HasPrefix(last, "pivot_root(") {
		t.Errorf("last call = %s, want pivot_root: nothing after a failure", last)
	}
}

func TestParseVolumes(t *testing.T) {
	host := t.TempDir()
	tests := []struct {
		spec    string
		want    state.Volume
		wantErr string
	}{
		{spec: host + ":/data", want: state.Volume{Host: host, Container: "/data"}},
		{spec: host + ":/data:ro", want: state.Volume{Host: host, Container: "/data", ReadOnly: true}},
		{spec: host + ":/data/:rw", want: state.Volume{Host: host, Container: "/data"}},
		{spec: "relative:/data", wantErr: "must be absolute"},
		{spec: host + ":data", wantErr: "must be absolute"},
		{spec: host, wantErr: "want HOST:CTR"},
		{spec: host + ":/data:rx", wantErr: "is not ro or rw"},
		{spec: host + ":/", wantErr: "container's root"},
		{spec: "/does/not/exist:/data", wantErr: "does not exist"},
		{spec: ":/data", wantErr: "want HOST:CTR"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseVolumes([]string{tt.spec})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseVolumes(%q) error = %v, want one containing %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseVolumes(%q): %v", tt.spec, err)
			}
			if diff := cmp.Diff([]state.Volume{tt.want}, got); diff != "" {
				t.Errorf("ParseVolumes(%q) mismatch (-want +got):\n%s", tt.spec, diff)
			}
		})
	}
}
