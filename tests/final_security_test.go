package tests

// final_security_test.go checks what final takes from a container by
// default, as docker does, from inside: capabilities, no_new_privs, masked
// and read-only kernel files, a read-only /sys, the device allowlist, and
// the chroot escape that works against step 01.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dockerDefaultCapEff is CapEff in /proc/self/status under docker run's
// default capability set.
const dockerDefaultCapEff = "00000000a80425fb"

// finalMaskedPaths and finalReadOnlyPaths are the kernel files final hides
// and protects, as docker does.
var (
	finalMaskedPaths = []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"}
	finalReadOnlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// deviceNodeProbe makes a block device node where nothing stops it but
// the device allowlist (a loop device, on the rootfs, which is not nodev),
// then uses an allowed device. Without an allowlist, root with --userns
// host makes the node (mknod exits 0) and only its open fails (ENXIO).
const deviceNodeProbe = `mknod /probe-blk b 7 200 2>&1; echo "exit $?"; rm -f /probe-blk; echo x > /dev/null && echo "/dev/null ok"`

// deviceNodeRefused is what deviceNodeProbe prints under the allowlist.
const deviceNodeRefused = "mknod: /probe-blk: Operation not permitted\nexit 1\n/dev/null ok"

// TestFinalSecureByDefault runs checks inside a container, with the
// default user namespace and without one (--userns host), where the
// restrictions matter most: root inside is root on the host.
func TestFinalSecureByDefault(t *testing.T) {
	// --no-init: the command replaces the init, which restricted only the
	// thread that execs it (execve ends the others); the command must end
	// up as restricted as under an init.
	for _, mode := range []string{"userns default", "userns host", "no-init"} {
		t.Run(mode, func(t *testing.T) {
			f := newFinal(t)
			base := []string{"run", "--rm", "--rootfs", rootfsCopy(t)}
			userns := "default"
			switch mode {
			case "userns host":
				userns = "host"
				base = append(base, "--userns", "host")
			case "no-init":
				base = append(base, "--no-init")
			}
			checks := []struct {
				name   string
				script string
				want   string
				// userHostOnly: root inside the default user namespace cannot
				// write the rootfs (host root's) at all, so there is nothing
				// more to see.
				userHostOnly bool
			}{
				{"capabilities are docker's default set", `grep CapEff /proc/self/status`, "CapEff:\t" + dockerDefaultCapEff, false},
				{"bounding set too", `grep CapBnd /proc/self/status`, "CapBnd:\t" + dockerDefaultCapEff, false},
				{"no_new_privs", `grep NoNewPrivs /proc/self/status`, "NoNewPrivs:\t1", false},
				{"a syscall filter", `grep '^Seccomp:' /proc/self/status`, "Seccomp:\t2", false},
				{"the filter refuses new namespaces", `unshare -U true 2>&1; echo "exit $?"; unshare -n true 2>&1; echo "exit $?"`, "unshare: unshare(0x10000000): Operation not permitted\nexit 1\nunshare: unshare(0x40000000): Operation not permitted\nexit 1", false},
				{"/proc/sys is read-only", `echo evil > /proc/sys/kernel/hostname && echo WROTE || echo refused`, "refused", false},
				{"/sys is read-only", `touch /sys/kernel/x 2>/dev/null || echo refused; mount | grep -q '^sysfs on /sys type sysfs (ro,' && echo ro`, "refused\nro", false},
				{"no mounting", `mount -t tmpfs none /mnt 2>/dev/null && echo MOUNTED || echo refused`, "refused", false},
				{"a device node made inside cannot be opened", `mknod /tmp/disk b 8 0 2>/dev/null; head -c1 /tmp/disk >/dev/null 2>&1 && echo OPENED || echo refused`, "refused", false},
				{"the device allowlist refuses mknod outside it", deviceNodeProbe, deviceNodeRefused, true},
				{"/dev holds only the allowlist", `ls /dev | tr '\n' ' '`, "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero", false},
			}
			for _, c := range checks {
				if c.userHostOnly && userns != "host" {
					continue
				}
				t.Run(c.name, func(t *testing.T) {
					r := f.box(append(base, "sh", "-c", c.script)...)
					if diff := cmp.Diff(c.want, strings.TrimSpace(r.stdout)); diff != "" {
						t.Errorf("mismatch (-want +got):\n%s\n%s", diff, r)
					}
				})
			}
			t.Run("kernel files are masked", func(t *testing.T) {
				for _, p := range finalMaskedPaths {
					info, err := os.Stat(p)
					if err != nil {
						continue // this kernel does not have it: nothing to hide
					}
					script := "cat " + p + " | wc -c"
					if info.IsDir() {
						script = "ls -A " + p + " | wc -l"
					}
					r := f.box(append(base, "sh", "-c", script)...)
					if strings.TrimSpace(r.stdout) != "0" {
						t.Errorf("%s is not masked inside: %s", p, r)
					}
				}
			})
			t.Run("kernel files are read-only", func(t *testing.T) {
				for _, p := range finalReadOnlyPaths {
					if _, err := os.Stat(p); err != nil {
						continue
					}
					// Field 5 of mountinfo is the mount point, 6 its options; the
					// last mount at a point is the one on top.
					script := `awk '$5 == "` + p + `" { split($6, o, ","); opt = o[1] } END { print opt }' /proc/self/mountinfo`
					r := f.box(append(base, "sh", "-c", script)...)
					if strings.TrimSpace(r.stdout) != "ro" {
						t.Errorf("%s is not a read-only mount inside: %s", p, r)
					}
				}
			})
		})
	}
}

// TestFinalSeccompUnconfined shows that the filter is what refuses a new
// user namespace: with --security-opt seccomp=unconfined, the same
// command makes one, and inspect says which profile a container has.
func TestFinalSeccompUnconfined(t *testing.T) {
	f := newFinal(t)
	for _, userns := range []string{"default", "host"} {
		args := []string{"run", "--rm", "--security-opt", "seccomp=unconfined", "--rootfs", sharedRootfs(t)}
		if userns == "host" {
			args = append(args, "--userns", "host")
		}
		r := f.box(append(args, "sh", "-c", `grep '^Seccomp:' /proc/self/status; unshare -U true 2>&1; echo "exit $?"`)...)
		if diff := cmp.Diff("Seccomp:\t0\nexit 0", strings.TrimSpace(r.stdout)); diff != "" {
			t.Errorf("userns %s, unconfined: mismatch (-want +got):\n%s\n%s", userns, diff, r)
		}
	}
	for _, tc := range []struct {
		opts []string
		want string
	}{
		{nil, "default"},
		{[]string{"--security-opt", "seccomp=unconfined"}, "unconfined"},
	} {
		id := f.detached(append(append(tc.opts, "--rootfs", sharedRootfs(t)), "sleep", "60")...)
		if got := f.inspect(id).Seccomp; got != tc.want {
			t.Errorf("inspect %v: Seccomp %q, want %q", tc.opts, got, tc.want)
		}
	}
}

// TestFinalChrootEscapeFails copies step 01's binary, whose escape works
// against a chroot, and final's own, into a rootfs and runs their escape
// inside final: after the climb, the root must still be the container's.
func TestFinalChrootEscapeFails(t *testing.T) {
	f := newFinal(t)
	rootfs := rootfsCopy(t)
	marker := hostDir(t, map[string]string{"host-only": "the host\n"})
	steps := []string{finalStep}
	if len(harness.steps) > 0 && harness.steps[0] != finalStep {
		steps = append([]string{harness.steps[0]}, steps...)
	}
	for _, step := range steps {
		for _, userns := range []string{"default", "host"} {
			t.Run(step+"/userns "+userns, func(t *testing.T) {
				b, err := os.ReadFile(binary(t, step))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(rootfs, "escape"), b, 0o755); err != nil {
					t.Fatal(err)
				}
				args := []string{"run", "--rm", "--rootfs", rootfs}
				if userns == "host" {
					args = append(args, "--userns", "host")
				}
				// The escape needs a directory to chroot into: /tmp is writable.
				script := "cat " + filepath.Join(marker, "host-only") + " 2>/dev/null || echo contained"
				args = append(args, "-w", "/tmp", "/escape", "--quiet", "escape", "/bin/sh", "-c", script)
				r := f.box(args...)
				if got := strings.TrimSpace(r.stdout); got != "contained" {
					t.Errorf("the escape reached the host (%q):\n%s", got, r)
				}
			})
		}
	}
}
