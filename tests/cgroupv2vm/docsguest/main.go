// Command docsguest runs the chapters' cgroup v2 blocks in the cgroup v2
// test machine: the machine's /init runs it as /guest with the jobs file
// (cgroupv2vm.DocsJobsFile) as its argument. For each chapter it makes
// the directory a learner's checkout would be (bin/ with the programs,
// rootfs/ a private copy of the rootfs), runs the chapter's script there
// with bash, as TestDocs does on the host, and prints what the script
// printed on the serial console (cgroupv2vm.DocsRun) for the host to
// normalize and compare. It prints "BOXVM-RESULT: PASS" when every script
// ran (what they printed is the host's to judge). It is built static.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"box/tests/cgroupv2vm"
)

// chapterTimeout bounds one chapter's script, as TestDocs's does.
const chapterTimeout = 5 * time.Minute

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: docsguest JOBS.json")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	var jobs []cgroupv2vm.DocsJob
	if err := json.Unmarshal(b, &jobs); err != nil {
		fail(fmt.Errorf("%s: %w", os.Args[1], err))
	}
	if err := likeSystemd(); err != nil {
		fail(err)
	}
	// The chapters that use box give it a tmpfs on /var/lib (see TestDocs).
	if err := os.MkdirAll("/var/lib", 0o755); err != nil {
		fail(err)
	}
	base := "/tmp"
	if _, err := os.Stat("/" + cgroupv2vm.DocsDisk); err == nil {
		if base, err = mountDisk(); err != nil {
			fail(err)
		}
	}
	failed := 0
	for i, job := range jobs {
		began := time.Now()
		r := runChapter(filepath.Join(base, fmt.Sprintf("docs-%d", i)), i, job)
		// The next chapter starts as after a boot, as it does when it runs
		// again alone: without the runtimes' cgroup box (empty once their
		// containers are gone).
		if err := os.Remove("/sys/fs/cgroup/box"); err != nil && !errors.Is(err, os.ErrNotExist) && r.Err == "" {
			r.Err = fmt.Sprintf("the chapter left /sys/fs/cgroup/box behind: %v", err)
		}
		if r.Err != "" {
			failed++
		}
		lines, err := r.Lines()
		if err != nil {
			fail(err)
		}
		fmt.Println(strings.Join(lines, "\n"))
		fmt.Printf("CHECK ran %s in %.1fs %s\n", job.Chapter, time.Since(began).Seconds(), r.Err)
	}
	if failed > 0 {
		fmt.Printf("BOXVM-RESULT: FAIL (%d of %d chapters did not run)\n", failed, len(jobs))
		os.Exit(1)
	}
	fmt.Printf("BOXVM-RESULT: PASS (%d chapters ran)\n", len(jobs))
}

func fail(err error) {
	fmt.Println("docsguest:", err)
	fmt.Println("BOXVM-RESULT: FAIL")
	os.Exit(1)
}

// likeSystemd hands the controllers the runtimes use down from the root,
// as systemd does at boot on a cgroup v2 host (Ubuntu 24.04, Debian 12,
// Fedora): the transcripts show what a learner's machine shows, and not
// the first run after a boot without systemd.
func likeSystemd() error {
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil {
		return err
	}
	var enable []string
	for _, c := range []string{"cpu", "memory", "pids"} {
		if slices.Contains(strings.Fields(string(b)), c) {
			enable = append(enable, "+"+c)
		}
	}
	return os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte(strings.Join(enable, " ")), 0)
}

// mountDisk mounts the ext4 disk on /home, once the kernel has found it
// (the virtio driver probes it while /init goes on), and returns where.
func mountDisk() (string, error) {
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat("/dev/vda"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return "", errors.New("no /dev/vda after 30s: is the disk attached and are virtio_pci and virtio_blk loaded?")
		}
	}
	if err := os.MkdirAll("/home", 0o755); err != nil {
		return "", err
	}
	if err := syscall.Mount("/dev/vda", "/home", "ext4", 0, ""); err != nil {
		return "", fmt.Errorf("mount /dev/vda (ext4) on /home: %w", err)
	}
	return "/home", nil
}

// runChapter runs job's script in dir.
func runChapter(dir string, i int, job cgroupv2vm.DocsJob) cgroupv2vm.DocsRun {
	r := cgroupv2vm.DocsRun{Chapter: job.Chapter, Dir: dir, Rootfs: filepath.Join(dir, "rootfs")}
	own, _ := os.ReadFile("/proc/self/cgroup")
	r.Cgroup = string(own)
	if err := workdir(dir, r.Rootfs); err != nil {
		r.Err = err.Error()
		return r
	}
	script := fmt.Sprintf("/tmp/chapter-%d.sh", i)
	if err := os.WriteFile(script, []byte(job.Script), 0o644); err != nil {
		r.Err = err.Error()
		return r
	}
	pids, pidsWriter, err := os.Pipe()
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer pids.Close()
	ctx, cancel := context.WithTimeout(context.Background(), chapterTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/local/bin/bash", "--norc", "--noprofile", script)
	cmd.Dir = dir
	// The same environment as TestDocs's, so the runtimes' narration (the
	// count of variables execve passes on) is the same.
	cmd.Env = []string{
		"PATH=" + filepath.Join(dir, "bin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + dir,
		"ROOTFS=" + r.Rootfs,
		"TERM=xterm",
		"NO_COLOR=1",
		"LC_ALL=C",
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.ExtraFiles = []*os.File{pidsWriter}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if job.NewNS {
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		pidsWriter.Close()
		r.Err = err.Error()
		return r
	}
	pidsWriter.Close()
	var recorded bytes.Buffer
	done := make(chan struct{})
	go func() {
		_, _ = recorded.ReadFrom(pids)
		close(done)
	}()
	err = cmd.Wait()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	r.Output, r.PIDs = out.String(), strings.Fields(recorded.String())
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.Err = fmt.Sprintf("still running after %v, killed", chapterTimeout)
	case err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay):
		r.Err = err.Error()
	}
	return r
}

// workdir makes dir as TestDocs makes a chapter's: searchable by all,
// bin/ with a link to each program, rootfs/ unpacked from the host's.
func workdir(dir, rootfs string) error {
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	bins, err := os.ReadDir("/" + cgroupv2vm.DocsBinDir)
	if err != nil {
		return err
	}
	for _, b := range bins {
		if err := os.Symlink(filepath.Join("/", cgroupv2vm.DocsBinDir, b.Name()), filepath.Join(dir, "bin", b.Name())); err != nil {
			return err
		}
	}
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return err
	}
	out, err := exec.Command("/usr/local/bin/tar", "--numeric-owner", "-xpf", "/"+cgroupv2vm.DocsRootfsTar, "-C", rootfs).CombinedOutput()
	if err != nil {
		return fmt.Errorf("unpack the rootfs: %v: %s", err, out)
	}
	return nil
}
