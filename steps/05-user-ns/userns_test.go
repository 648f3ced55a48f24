package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseIDRange(t *testing.T) {
	tests := []struct {
		spec    string
		want    idRange
		wantErr string
	}{
		{spec: "100000:65536", want: idRange{start: 100000, size: 65536}},
		{spec: "1:1", want: idRange{start: 1, size: 1}},
		{spec: "4294967294:1", want: idRange{start: 4294967294, size: 1}},
		{spec: "0:65536", wantErr: "root on the host"},
		{spec: "100000:0", wantErr: "at least one id"},
		{spec: "4294967290:10", wantErr: "past the last id"},
		{spec: "100000", wantErr: "want HOSTID:SIZE"},
		{spec: "-1:10", wantErr: "want HOSTID:SIZE"},
		{spec: "100000:65536:1", wantErr: "want HOSTID:SIZE"},
		{spec: "4294967296:1", wantErr: "want HOSTID:SIZE"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := parseIDRange(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseIDRange(%q) error = %v, want one containing %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseIDRange(%q): %v", tt.spec, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(idRange{})); diff != "" {
				t.Errorf("parseIDRange(%q) mismatch (-want +got):\n%s", tt.spec, diff)
			}
		})
	}
}

func TestIDRangeContains(t *testing.T) {
	r := idRange{start: 100000, size: 65536}
	for id, want := range map[uint32]bool{0: false, 99999: false, 100000: true, 165535: true, 165536: false} {
		if got := r.contains(id); got != want {
			t.Errorf("contains(%d) = %v, want %v", id, got, want)
		}
	}
}

func TestIDMapText(t *testing.T) {
	got := idMapText(idRange{start: 100000, size: 65536}.idMappings())
	if diff := cmp.Diff("0 100000 65536\n", got); diff != "" {
		t.Errorf("idMapText mismatch (-want +got):\n%s", diff)
	}
}

func TestCheckRootlessAllowed(t *testing.T) {
	tests := []struct {
		name    string
		knobs   map[string]string
		wantErr string
	}{
		{"no knobs", nil, ""},
		{"allowed", map[string]string{"/proc/sys/user/max_user_namespaces": "63000\n", "/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "0\n"}, ""},
		{"none allowed", map[string]string{"/proc/sys/user/max_user_namespaces": "0\n"}, "user.max_user_namespaces = 0"},
		{"debian knob", map[string]string{"/proc/sys/kernel/unprivileged_userns_clone": "0\n"}, "kernel.unprivileged_userns_clone = 0"},
		{"ubuntu apparmor", map[string]string{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1\n"}, "apparmor_restrict_unprivileged_userns = 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkRootlessAllowed(func(path string) ([]byte, error) {
				v, ok := tt.knobs[path]
				if !ok {
					return nil, os.ErrNotExist
				}
				return []byte(v), nil
			})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkRootlessAllowed = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestShiftOwners shifts a small tree, then shifts it again: the second
// time nothing changes. Giving files away needs root.
func TestShiftOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root to chown, and CI=true: run the tests as root")
		}
		t.Skip("needs root to chown files to other ids; run: sudo go test")
	}
	dir := t.TempDir()
	files := map[string]struct{ uid, gid int }{
		"root":       {0, 0},
		"nobody":     {65534, 65534},
		"mixed":      {0, 200000},
		"past-range": {70000, 70000},
	}
	for name, ids := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p, ids.uid, ids.gid); err != nil {
			t.Fatal(err)
		}
	}
	setuid := filepath.Join(dir, "root")
	if err := os.Chmod(setuid, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("root", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(dir, 0, 0); err != nil {
		t.Fatal(err)
	}
	r := idRange{start: 100000, size: 65536}
	shifted, kept, err := shiftOwners(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if shifted != 5 || kept != 1 { // dir, root, nobody, mixed, link; past-range
		t.Errorf("shifted %d, kept %d; want 5 and 1", shifted, kept)
	}
	want := map[string][2]uint32{
		".": {100000, 100000}, "root": {100000, 100000}, "nobody": {165534, 165534},
		"mixed": {100000, 200000}, "past-range": {70000, 70000}, "link": {100000, 100000},
	}
	got := map[string][2]uint32{}
	for name := range want {
		info, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		st := info.Sys().(*syscall.Stat_t)
		got[name] = [2]uint32{st.Uid, st.Gid}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("owners mismatch (-want +got):\n%s", diff)
	}
	if info, err := os.Stat(setuid); err != nil || info.Mode()&os.ModeSetuid == 0 {
		t.Errorf("setuid bit of %s lost: %v %v", setuid, info.Mode(), err)
	}
	if shifted, kept, err := shiftOwners(dir, r); err != nil || shifted != 0 || kept != 6 {
		t.Errorf("second shift: shifted %d, kept %d, %v; want 0, 6, nil", shifted, kept, err)
	}
}

// TestCheckReachable builds a path with a closed directory on the way:
// the mapped root may not enter it unless it is searchable by others, by
// the mapped uid or gid as owner or group, or owned by ids the namespace
// maps (then its capabilities count).
func TestCheckReachable(t *testing.T) {
	u := userNamespace{uids: idRange{start: 100000, size: 65536}, gids: idRange{start: 100000, size: 65536}}
	tests := []struct {
		name     string
		mode     os.FileMode
		uid, gid int // -1: whoever runs the test
		ok       bool
	}{
		{"searchable by others", 0o711, -1, -1, true},
		{"closed", 0o700, -1, -1, false},
		{"group only, another group", 0o710, -1, -1, false},
		{"owned by the mapped root", 0o700, 100000, 100000, true},
		{"group of the mapped root", 0o710, -1, 100000, true},
		{"owned by mapped ids", 0o700, 100005, 100005, true},
		{"mapped uid, unmapped gid", 0o700, 100005, 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.uid >= 0 || tt.gid >= 0) && os.Geteuid() != 0 {
				if os.Getenv("CI") == "true" {
					t.Fatal("needs root to chown, and CI=true: run the tests as root")
				}
				t.Skip("needs root to chown a directory to other ids")
			}
			// t.TempDir is a 0700 directory in another 0700 one: open both.
			base := t.TempDir()
			for _, dir := range []string{filepath.Dir(base), base} {
				if err := os.Chmod(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			gate := filepath.Join(base, "gate")
			target := filepath.Join(gate, "rootfs")
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(gate, tt.uid, tt.gid); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(gate, tt.mode); err != nil {
				t.Fatal(err)
			}
			err := checkReachable(target, true, u)
			if tt.ok != (err == nil) {
				t.Errorf("checkReachable = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "cannot enter "+gate) {
				t.Errorf("error %q does not name %s", err, gate)
			}
			if err := checkReachable(target, true, userNamespace{rootless: true}); err != nil {
				t.Errorf("rootless: %v, want nil (the parent meets refusals itself)", err)
			}
		})
	}
}
