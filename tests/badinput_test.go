package tests

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBadInput gives every step input it must refuse. Each refusal is a
// non-zero exit with one line on stderr (narration is off with --quiet),
// and leaves nothing behind: the host's mount table and the rootfs are as
// they were.
func TestBadInput(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name string
		// args builds the command line from a rootfs and an existing host dir.
		args     func(rootfs, hostDir string) []string
		nobody   bool   // run as uid 65534 instead of root
		wantCode int    // the exact exit code, or 0 for any failure
		until    string // the step from which this is no longer bad input
	}{
		{name: "missing rootfs", args: func(rootfs, _ string) []string {
			return runArgs(filepath.Join(rootfs, "no-such-dir"), nil, "true")
		}},
		{name: "command not in rootfs", wantCode: 127, args: func(rootfs, _ string) []string {
			return runArgs(rootfs, nil, "/no/such/command")
		}},
		// A user namespace lets anyone run a container (rootless).
		{name: "not root", nobody: true, until: "05-user-ns", args: func(rootfs, _ string) []string {
			return runArgs(rootfs, nil, "true")
		}},
		{name: "relative volume", args: func(rootfs, _ string) []string {
			return runArgs(rootfs, []string{"relative/dir:/data"}, "true")
		}},
		{name: "malformed volume", args: func(rootfs, host string) []string {
			return runArgs(rootfs, []string{host}, "true")
		}},
		{name: "volume host dir missing", args: func(rootfs, host string) []string {
			return runArgs(rootfs, []string{filepath.Join(host, "missing") + ":/data"}, "true")
		}},
		{name: "empty command after --", args: func(rootfs, _ string) []string {
			return runArgs(rootfs, nil)
		}},
		{name: "no command", args: func(rootfs, _ string) []string {
			return []string{"--quiet", "run", "--rootfs", rootfs}
		}},
		{name: "unknown flag", args: func(rootfs, _ string) []string {
			return []string{"--quiet", "run", "--no-such-flag", "--rootfs", rootfs, "--", "true"}
		}},
	}
	for _, step := range harness.steps {
		step := step
		t.Run(step, func(t *testing.T) {
			rootfs := rootfsCopy(t) // one per step: each case checks it is unchanged
			host := hostDir(t, nil)
			for _, tt := range tests {
				tt := tt
				if tt.until != "" && stepAtLeast(step, tt.until) {
					continue
				}
				t.Run(tt.name, func(t *testing.T) {
					holdHostMounts(t)
					treeBefore, err := treeNames(rootfs)
					if err != nil {
						t.Fatal(err)
					}
					mountsBefore := hostMountinfo(t)
					var o runOptions
					if tt.nobody {
						o.credential = &syscall.Credential{Uid: 65534, Gid: 65534}
					}
					r := runWith(t, step, o, tt.args(rootfs, host)...)
					switch {
					case tt.wantCode != 0 && r.code != tt.wantCode:
						t.Errorf("exit code %d, want %d\n%s", r.code, tt.wantCode, r)
					case r.code == 0:
						t.Errorf("exit code 0, want a failure\n%s", r)
					}
					if lines := nonEmptyLines(r.stderr); len(lines) != 1 {
						t.Errorf("stderr has %d lines, want exactly one naming the problem:\n%s", len(lines), r.stderr)
					} else {
						t.Logf("exit %d: %s", r.code, strings.TrimSpace(r.stderr))
					}
					if diff := cmp.Diff(mountsBefore, hostMountinfo(t)); diff != "" {
						t.Errorf("host mountinfo changed (-before +after):\n%s", diff)
					}
					treeAfter, err := treeNames(rootfs)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(treeBefore, treeAfter); diff != "" {
						t.Errorf("rootfs changed (-before +after):\n%s", diff)
					}
				})
			}
		})
	}
}
