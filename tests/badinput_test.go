package tests

import (
	"os"
	"os/exec"
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

// TestReadOnlyCgroups runs the steps with cgroups and final where the
// cgroup hierarchies are mounted read-only, as docker mounts them in a
// container started without --privileged (here: remounted read-only in a
// mount namespace of the test's own). A run that asks for no limit must
// run, without a cgroup, and say so; one that asks for a limit must fail
// with one line that says what is wrong and how to start the container.
func TestReadOnlyCgroups(t *testing.T) {
	requireRoot(t)
	unshare := requireTool(t, "unshare")
	rootfs := sharedRootfs(t)
	script := `set -u
n=0
for m in $(awk '{for (i = 7; i < NF; i++) if ($i == "-") { if ($(i+1) == "cgroup" || $(i+1) == "cgroup2") print $5; break }}' /proc/self/mountinfo); do
	mount -o remount,bind,ro "$m" || exit 90
	n=$((n+1))
done
[ $n -gt 0 ] || exit 91
"$BIN" $NOLIMIT >"$DIR/nolimit.out" 2>"$DIR/nolimit.err"; echo "no limit: $?"
"$BIN" $LIMIT >"$DIR/limit.out" 2>"$DIR/limit.err"; echo "limit: $?"
`
	for _, step := range harness.steps {
		step := step
		if !stepAtLeast(step, "06-cgroups") {
			continue
		}
		t.Run(step, func(t *testing.T) {
			dir := safeTempDir(t, "ro-cgroups-", 0o755)
			noLimit := "run --rootfs " + rootfs + " -- cat /etc/hostname"
			limit := "--quiet run -m 64m --rootfs " + rootfs + " -- true"
			if step == finalStep {
				state := filepath.Join(dir, "state")
				noLimit = "--state-dir " + state + " run --rm --rootfs " + rootfs + " cat /etc/hostname"
				limit = "--state-dir " + state + " run --rm -m 64m --rootfs " + rootfs + " true"
			}
			cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", script)
			cmd.Env = append(os.Environ(), "NO_COLOR=1", "DIR="+dir, "BIN="+binary(t, step), "NOLIMIT="+noLimit, "LIMIT="+limit)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("script: %v\n%s", err, out)
			}
			read := func(name string) string {
				b, _ := os.ReadFile(filepath.Join(dir, name))
				return string(b)
			}
			if got := strings.TrimSpace(string(out)); !strings.HasPrefix(got, "no limit: 0\nlimit: ") || strings.HasSuffix(got, "limit: 0") {
				t.Errorf("want the run without limits to succeed and the one with -m to fail; got\n%s\nno limit, stderr:\n%s\nlimit, stderr:\n%s", got, read("nolimit.err"), read("limit.err"))
			}
			if e := read("nolimit.err"); !strings.Contains(e, "read-only") || !strings.Contains(e, "without a cgroup") {
				t.Errorf("the run without limits does not say it runs without a cgroup because cgroups are read-only:\n%s", e)
			} else if step == finalStep && len(nonEmptyLines(e)) != 1 {
				t.Errorf("final should say so in one notice line:\n%s", e)
			}
			if e := read("limit.err"); len(nonEmptyLines(e)) != 1 || !strings.Contains(e, "read-only") || !strings.Contains(e, "docker run --privileged") {
				t.Errorf("the run with -m should fail with one line saying cgroups are read-only and how to start the container; got:\n%s", e)
			}
			if left := mountsUnder(dir); len(left) > 0 {
				t.Errorf("left mounted: %v", left)
			}
		})
	}
}
