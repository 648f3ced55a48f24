package tests

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Grading runs the cumulative feature suite against a binary that is not
// this tree's: a learner's exercise, or a whole class's. The grader
// (go run ./grader) compiles this package once and runs TestGrade with
// the flags below for each binary; TestExercises does the same for every
// step's exercise and for the step itself.
var (
	gradeBin  = flag.String("grade-bin", "", "TestGrade: the binary to grade, which follows the steps' command line")
	gradeStep = flag.String("grade-step", "", "TestGrade: the step the binary claims to be, like 03 or 03-mount-ns")
	// gradePrebuilt makes TestGrade use the binaries a parent test built
	// (TestExercises) instead of building every step again.
	gradePrebuilt = flag.String("grade-prebuilt", "", "TestGrade: a directory holding every step's binary, built already")
)

// gradedBinaries replaces a step's binary with the one being graded, for
// the features that run it (binary in main_test.go looks here first).
var gradedBinaries = map[string]string{}

// gradeLinePrefix starts the line TestGrade prints for each feature, for
// the grader to read: GRADE<TAB>pass|fail<TAB>since<TAB>feature<TAB>hint.
const gradeLinePrefix = "GRADE\t"

// featureHints say in one line where a learner finds what a feature
// needs; the grader prints the hint of each failed feature.
var featureHints = map[string]string{
	"inherited files stay out":                                     "mark every fd above 2 close-on-exec before starting the command (close_range): docs/01-chroot.md#open-files-the-other-way-out",
	"root is the rootfs":                                           "chroot(rootfs) then chdir(\"/\") in the child: docs/01-chroot.md#the-system-calls",
	"command is PID 1":                                             "start the child with CLONE_NEWPID: docs/02-pid-ns.md#the-system-calls",
	"host PIDs invisible in /proc":                                 "mount a new proc at /proc inside the new PID namespace: docs/02-pid-ns.md#the-system-calls",
	"host processes cannot be signalled":                           "a new PID namespace (CLONE_NEWPID) hides the host's processes from kill: docs/02-pid-ns.md#the-idea",
	"ps shows only the container":                                  "ps reads /proc: mount proc from inside the new PID namespace: docs/02-pid-ns.md#run-it",
	"/tmp is private and vanishes with the container":              "mount a tmpfs on /tmp after the pivot: docs/03-mount-ns.md#the-system-calls",
	"host mountinfo unchanged during and after run":                "CLONE_NEWNS, then make / rprivate (MS_REC|MS_PRIVATE) before any mount: docs/03-mount-ns.md#the-system-calls",
	"host root unreachable by chroot escape":                       "pivot_root instead of chroot, so .. stops at the new root: docs/03-mount-ns.md#the-escape-fails",
	"old root unreachable":                                         "pivot_root(\".\", \".\") then umount2(\".\", MNT_DETACH): docs/03-mount-ns.md#the-system-calls",
	"private /dev with only null zero full random urandom tty pts": "mount a tmpfs on DIR/dev and bind in only the safe devices, plus a new devpts: docs/03-mount-ns.md#the-system-calls",
	"read-only volume gives EROFS":                                 "bind the volume, then remount the bind with MS_RDONLY: docs/03-mount-ns.md#a-read-only-volume",
	"volume binds a host directory":                                "bind-mount HOST onto ROOTFS/CTR before the pivot: docs/03-mount-ns.md#a-read-only-volume",
	"System V IPC objects do not cross":                            "start the child with CLONE_NEWIPC: docs/04-uts-net-ipc.md#the-ipc-namespace",
	"own hostname, the host's unchanged":                           "CLONE_NEWUTS, then sethostname in the child: docs/04-uts-net-ipc.md#the-system-calls",
	"own network stack with only lo, up":                           "CLONE_NEWNET, then RTM_SETLINK IFF_UP on lo over rtnetlink: docs/04-uts-net-ipc.md#netlink-messages-in-one-page",
	"container root is an unprivileged host uid":                   "CLONE_NEWUSER with a uid_map and gid_map: docs/05-user-ns.md#the-system-calls",
	"files made inside belong to the mapped host uid":              "map container root to an unprivileged host range (uid_map): docs/05-user-ns.md#the-system-calls",
	"root inside cannot make device nodes":                         "in a user namespace that the host's root does not own, mknod is refused: docs/05-user-ns.md#the-system-calls",
	"root inside cannot write a root-owned host file":              "root inside is an unprivileged host uid only with CLONE_NEWUSER and its maps: docs/05-user-ns.md#the-system-calls",
	"own cgroup, removed afterwards":                               "mkdir the container's cgroup, put the child in it, rmdir it after: docs/06-cgroups.md#the-system-calls",
	"memory limit: OOM-killed past -m, exit 137":                   "write -m to memory.max (v2) or memory.limit_in_bytes (v1): docs/06-cgroups.md#the-system-calls",
	"process limit: fork fails past --pids-limit":                  "write --pids-limit to pids.max: docs/06-cgroups.md#the-system-calls",
	"root is an overlay of the image's layers":                     "mount overlay with lowerdir=the layers, top first, upperdir and workdir: docs/07-layers.md#the-system-calls",
	"image whiteouts and opaque dirs hide lower files":             "after the run, rename the upper dir, with the whiteouts and opaque dirs overlayfs made, into the layers (--commit): docs/07-layers.md#commit-the-upper-dir",
	"writes land in the upper dir and layers stay untouched":       "give each container its own upper dir; never write into a layer: docs/07-layers.md#the-system-calls",
}

// gradedStep turns the -grade-step value into a step of this tree.
func gradedStep(t *testing.T) string {
	t.Helper()
	for _, s := range numberedSteps() {
		if s == *gradeStep || strings.HasPrefix(s, *gradeStep+"-") {
			return s
		}
	}
	t.Fatalf("-grade-step %q is not a step of this tree (02, 03-mount-ns ...)", *gradeStep)
	return ""
}

// TestGrade runs every feature of the graded step and the steps before it
// against -grade-bin, and prints one GRADE line per feature. Without
// -grade-bin it does nothing.
func TestGrade(t *testing.T) {
	if *gradeBin == "" {
		t.Skip("grades only with -grade-bin and -grade-step (go run ./grader)")
	}
	requireRoot(t)
	step := gradedStep(t)
	if _, err := os.Stat(*gradeBin); err != nil {
		t.Fatalf("-grade-bin: %v", err)
	}
	// Set before any feature runs, read only after.
	gradedBinaries[step] = *gradeBin
	if *gradePrebuilt != "" {
		harness.binDir = *gradePrebuilt
		builds.once.Do(func() { builds.errs = map[string]error{} })
	}
	var graded []feature
	for _, f := range sortedFeatures(t) {
		if stepAtLeast(step, f.since) {
			graded = append(graded, f)
		}
	}
	passed := make([]bool, len(graded))
	// The group returns when every parallel feature has finished.
	t.Run("features", func(t *testing.T) {
		for i, f := range graded {
			i, f := i, f
			t.Run(f.name, func(t *testing.T) {
				t.Parallel()
				passed[i] = f.check(t, step)
				if !passed[i] {
					t.Fail()
				}
			})
		}
	})
	for i, f := range graded {
		status := "fail"
		if passed[i] {
			status = "pass"
		}
		fmt.Printf("%s%s\t%s\t%s\t%s\n", gradeLinePrefix, status, f.since, f.name, featureHints[f.name])
	}
}
