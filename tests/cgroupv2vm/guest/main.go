// Command guest runs in the cgroup v2 test machine as its init's child:
// guest BINARY checks the cgroups step's binary on cgroup v2, with the
// same checks as on a v1 host (package cgroupcheck), and the two ways a
// runtime finds the v2 tree before its first container:
//
//   - with processes in the root cgroup and no controller handed down,
//     as this machine boots;
//   - as in a privileged docker container: a cgroup namespace whose root
//     cgroup holds processes, so handing controllers down fails with
//     EBUSY until they move into a leaf.
//
// It prints "CHECK name PASS|FAIL" lines and "BOXVM-RESULT: PASS|FAIL",
// and exits 0 only if every check passed. It is built static (no cgo).
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"box/tests/cgroupv2vm/cgroupcheck"
)

const (
	rootfs     = "/tmp/rootfs"
	cgroupRoot = "/sys/fs/cgroup"
	// nsRootRole is the argument that makes the guest the first process of
	// the docker-like cgroup namespace.
	nsRootRole = "--cgroupns-root"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == nsRootRole {
		if err := dockerLikeRoot(os.Args[2]); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: guest BINARY")
		os.Exit(2)
	}
	env := cgroupcheck.Env{Bin: os.Args[1], Rootfs: rootfs, Version: 2,
		Logf: func(format string, args ...any) { fmt.Printf("      "+format+"\n", args...) }}
	start := time.Now()
	fmt.Printf("guest: kernel %s, root controllers %q\n", read("/proc/sys/kernel/osrelease"), read(cgroupRoot+"/cgroup.controllers"))
	passed, failed := 0, 0
	check := func(name string, run func() error) {
		began := time.Now()
		if err := run(); err != nil {
			failed++
			fmt.Printf("CHECK %s FAIL (%.1fs): %v\n", name, time.Since(began).Seconds(), err)
			return
		}
		passed++
		fmt.Printf("CHECK %s PASS (%.1fs)\n", name, time.Since(began).Seconds())
	}
	check("build a rootfs with the step binary", func() error { return buildRootfs(env) })
	check("first run enables controllers with processes in the root", func() error { return rootWithProcesses(env) })
	for _, c := range cgroupcheck.Checks {
		c := c
		check(c.Name, func() error { return c.Run(env) })
	}
	check("docker-like cgroup namespace: processes moved to a leaf", func() error { return dockerLike(env) })
	check("nothing left under box", func() error { return nothingLeft(cgroupRoot + "/box") })
	result := "PASS"
	if failed > 0 {
		result = "FAIL"
	}
	fmt.Printf("BOXVM-RESULT: %s (%d passed, %d failed, checks took %.1fs)\n", result, passed, failed, time.Since(start).Seconds())
	if failed > 0 {
		os.Exit(1)
	}
}

// read is a small file's content, or the error.
func read(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "ERROR " + err.Error()
	}
	return strings.TrimSpace(string(b))
}

// buildRootfs makes the rootfs from the machine's static busybox.
func buildRootfs(env cgroupcheck.Env) error {
	r, err := env.Run("--quiet", "rootfs", "build", rootfs)
	if err != nil {
		return err
	}
	if r.Code != 0 {
		return fmt.Errorf("rootfs build failed\n%s", r)
	}
	return nil
}

// rootWithProcesses runs the first container of the boot: the root cgroup
// holds init and us, and hands no controller down. The runtime must
// enable cpu, memory and pids in the root's cgroup.subtree_control, which
// the root may do with processes in it, and move nobody.
func rootWithProcesses(env cgroupcheck.Env) error {
	procs := strings.Fields(read(cgroupRoot + "/cgroup.procs"))
	if !slices.Contains(procs, "1") || slices.Contains(strings.Fields(read(cgroupRoot+"/cgroup.subtree_control")), "memory") {
		return fmt.Errorf("want init in the root cgroup and no controller enabled, got procs %v, subtree_control %q", procs, read(cgroupRoot+"/cgroup.subtree_control"))
	}
	r, err := env.Run("run", "--rootfs", rootfs, "-m", "64m", "--", "true")
	if err != nil {
		return err
	}
	if r.Code != 0 {
		return fmt.Errorf("run failed\n%s", r)
	}
	if !strings.Contains(r.Stderr, `write /sys/fs/cgroup/cgroup.subtree_control <- "+cpu +memory +pids" = 0`) {
		return fmt.Errorf("the runtime did not enable the controllers in the root\n%s", r)
	}
	if strings.Contains(r.Stderr, "/init/cgroup.procs") || read("/proc/1/cgroup") != "0::/" {
		return fmt.Errorf("the runtime moved processes out of the root, which it need not: init is in %q\n%s", read("/proc/1/cgroup"), r)
	}
	fmt.Printf("      root subtree_control now %q; init still in %q\n", read(cgroupRoot+"/cgroup.subtree_control"), read("/proc/1/cgroup"))
	return nil
}

// dockerLike makes the situation of a privileged docker container on a
// v2 host: a cgroup, ctr, holding processes, that is the root of our
// cgroup namespace. It starts itself there with clone3: CLONE_INTO_CGROUP
// puts the process in ctr, and with CLONE_NEWCGROUP the new namespace's
// root is ctr (Linux 5.7). The rest runs in that process.
func dockerLike(env cgroupcheck.Env) error {
	ctr := filepath.Join(cgroupRoot, "ctr")
	if err := os.Mkdir(ctr, 0o755); err != nil {
		return err
	}
	fd, err := syscall.Open(ctr, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	cmd := exec.Command("/proc/self/exe", nsRootRole, env.Bin)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWCGROUP | syscall.CLONE_NEWNS,
		UseCgroupFD: true,
		CgroupFD:    fd,
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("in the cgroup namespace: %w", err)
	}
	return nil
}

// dockerLikeRoot runs in the cgroup namespace rooted at ctr. It mounts a
// cgroup2 of its own, which shows ctr as its root, with this process in
// it, and runs a container with a memory limit: the runtime must meet
// EBUSY, move us into a leaf, hand the controllers down and go on.
func dockerLikeRoot(bin string) error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	// The kernel refuses to stack a mount of the same filesystem on its own
	// root (EBUSY), so the old view goes first. nsdelegate is a flag of the
	// whole hierarchy, which the first mount set.
	if err := syscall.Unmount(cgroupRoot, syscall.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount %s: %w", cgroupRoot, err)
	}
	if err := syscall.Mount("cgroup2", cgroupRoot, "cgroup2", 0, ""); err != nil {
		return fmt.Errorf("mount cgroup2: %w", err)
	}
	me := strconv.Itoa(os.Getpid())
	if own := read("/proc/self/cgroup"); own != "0::/" || !slices.Contains(strings.Fields(read(cgroupRoot+"/cgroup.procs")), me) {
		return fmt.Errorf("want to be in the namespace's root cgroup, am in %q", own)
	}
	env := cgroupcheck.Env{Bin: bin, Rootfs: rootfs, Version: 2, Logf: func(string, ...any) {}}
	r, err := env.Run("run", "--rootfs", rootfs, "-m", "32m", "--", "sh", "-c", "exec tail -c 100m </dev/zero >/dev/null")
	if err != nil {
		return err
	}
	busy := `write /sys/fs/cgroup/cgroup.subtree_control <- "+cpu +memory +pids" = -1 EBUSY`
	moved := fmt.Sprintf(`write /sys/fs/cgroup/init/cgroup.procs <- %q = 0`, me)
	enabled := `write /sys/fs/cgroup/cgroup.subtree_control <- "+cpu +memory +pids" = 0`
	switch {
	case !strings.Contains(r.Stderr, busy) || !strings.Contains(r.Stderr, moved) || !strings.Contains(r.Stderr, enabled):
		return fmt.Errorf("want EBUSY, our pid moved to init, then the controllers enabled\n%s", r)
	case r.Code != 137:
		return fmt.Errorf("exit %d, want 137: the memory limit did not hold in the namespace\n%s", r.Code, r)
	case read("/proc/self/cgroup") != "0::/init":
		return fmt.Errorf("we are in %q, want 0::/init", read("/proc/self/cgroup"))
	}
	fmt.Printf("      EBUSY, moved %s into /init, enabled %q, OOM kill exit 137\n", me, read(cgroupRoot+"/cgroup.subtree_control"))
	return nothingLeft(cgroupRoot + "/box")
}

// nothingLeft fails if a container cgroup is left under parent.
func nothingLeft(parent string) error {
	entries, err := os.ReadDir(parent)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var left []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "box-") {
			left = append(left, e.Name())
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("left in %s: %s", parent, strings.Join(left, " "))
	}
	return nil
}
