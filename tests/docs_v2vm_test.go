package tests

// docs_v2vm_test.go checks the chapters' cgroup v2 transcripts: most
// learners run on cgroup v2, and this host is v1, so the blocks marked
// "```text cgroup-v2" run in the cgroup v2 machine of package cgroupv2vm,
// the same commands a learner types, through the same script and
// normalization as TestDocs's on the host.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"box/tests/cgroupv2vm"
)

// docsVMTools are the host's programs the chapters' scripts need in the
// machine, whose busybox has no bash and whose tar lacks GNU tar's options.
var docsVMTools = []string{"bash", "tar", "timeout"}

// v2Chapter is a chapter with cgroup v2 blocks.
type v2Chapter struct {
	path   string
	blocks []outputBlock // its cgroup v2 blocks, in order
}

// TestDocsCgroupV2VM runs the cgroup v2 blocks of every chapter in the
// cgroup v2 machine, one script per chapter, and compares each block with
// what it printed; -update rewrites them. A chapter that differs runs
// again, in a new boot, like TestDocs's chapters (chapterAttempts). It
// needs QEMU, apt-get and dpkg-deb, not root and not KVM.
func TestDocsCgroupV2VM(t *testing.T) {
	requireTool(t, "qemu-system-x86_64")
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg-deb", "timeout", "ldd", "tar", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to build the virtual machine", tool)
		}
	}
	requireBusyboxRootfs(t)
	var pending []v2Chapter
	for _, path := range chapters(t) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := parseOutputBlocks(string(raw))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var v2 []outputBlock
		for _, b := range blocks {
			if len(b.cgroups) > 0 && b.runsOn(2) {
				v2 = append(v2, b)
			}
		}
		if len(v2) > 0 {
			pending = append(pending, v2Chapter{path: path, blocks: v2})
		}
	}
	if len(pending) == 0 {
		t.Log("no chapter has a cgroup-v2 block")
		return
	}
	work := t.TempDir()
	files, jobs := docsVMFiles(t, work, pending)
	for attempt := 1; attempt <= chapterAttempts && len(pending) > 0; attempt++ {
		runs := bootDocsVM(t, work, files, jobs)
		var again []v2Chapter
		var againJobs []cgroupv2vm.DocsJob
		for i, c := range pending {
			name := filepath.Join(docsDir, filepath.Base(c.path))
			r, ok := runs[filepath.Base(c.path)]
			if !ok {
				t.Fatalf("%s: the machine printed no result", name)
			}
			got := docsVMOutputs(t, name, r, len(c.blocks))
			if *update {
				docsVMRewrite(t, c, got)
				continue
			}
			differs := ""
			for j, b := range c.blocks {
				if b.start < 0 || maskFDs(b.output) != maskFDs(got[j]) {
					differs = fmt.Sprintf("%s:%d: block %d (%s) does not match a run in the cgroup v2 machine (-doc +run):\n%s\nIf the new output is right: go test ./tests -run TestDocsCgroupV2VM -update",
						name, b.line, j+1, firstLine(b.commands[0]), cmp.Diff(maskFDs(b.output), maskFDs(got[j])))
					break
				}
			}
			switch {
			case differs == "":
			case attempt < chapterAttempts:
				t.Logf("attempt %d: %s; running the chapter again", attempt, differs)
				again, againJobs = append(again, c), append(againJobs, jobs[i])
			default:
				t.Error(differs)
			}
		}
		pending, jobs = again, againJobs
		if *update {
			break
		}
	}
}

// docsVMFiles gathers the machine's files for the chapters: the docs
// guest, the host tools, the rootfs, the programs the scripts run, and the
// jobs, one per chapter.
func docsVMFiles(t *testing.T, work string, chapters []v2Chapter) ([]cgroupv2vm.File, []cgroupv2vm.DocsJob) {
	guest := filepath.Join(work, "docsguest")
	build := exec.Command("go", "build", "-o", guest, "./tests/cgroupv2vm/docsguest")
	build.Dir = harness.repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the docs guest: %v\n%s", err, out)
	}
	files := []cgroupv2vm.File{{Name: "guest", Mode: 0o755, Path: guest}, {Name: cgroupv2vm.GuestArgs, Mode: 0o644, Data: []byte("/" + cgroupv2vm.DocsJobsFile)},
		{Name: cgroupv2vm.SwitchRoot, Mode: 0o644}, {Name: cgroupv2vm.DocsDisk, Mode: 0o644}}
	for _, tool := range docsVMTools {
		f, err := cgroupv2vm.HostTool(tool)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f...)
	}
	// Owned by root, as the rootfs of a learner who built it with sudo.
	rootfsTar := filepath.Join(work, "rootfs.tar")
	if out, err := exec.Command("tar", "--numeric-owner", "--owner=0", "--group=0", "-C", sharedRootfs(t), "-cf", rootfsTar, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar the rootfs: %v\n%s", err, out)
	}
	files = append(files, cgroupv2vm.File{Name: cgroupv2vm.DocsRootfsTar, Mode: 0o644, Path: rootfsTar})
	var jobs []cgroupv2vm.DocsJob
	programs := map[string]string{} // name in bin/ -> the built binary
	for _, c := range chapters {
		var commands [][]string
		for _, b := range c.blocks {
			commands = append(commands, b.commands)
		}
		script := chapterScript(commands)
		usesBox := false
		for _, m := range binaryNames.FindAllStringSubmatch(script, -1) {
			step, name := m[1], m[1]
			if m[2] == "box" {
				step, name, usesBox = finalStep, "box", true
				programs[boxInitName] = filepath.Join(filepath.Dir(binary(t, step)), boxInitName)
				programs[boxMonitorName] = filepath.Join(filepath.Dir(binary(t, step)), boxMonitorName)
			}
			if stepIndex(step) < 0 {
				t.Fatalf("%s runs %s, which is not a step of this tree", c.path, step)
			}
			programs[name] = binary(t, step)
		}
		if usesBox {
			script = boxPrologue + script
		}
		jobs = append(jobs, cgroupv2vm.DocsJob{Chapter: filepath.Base(c.path), Script: script, NewNS: usesBox})
	}
	names := make([]string, 0, len(programs))
	for name := range programs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		files = append(files, cgroupv2vm.File{Name: cgroupv2vm.DocsBinDir + "/" + name, Mode: 0o755, Path: programs[name]})
	}
	return files, jobs
}

// bootDocsVM boots the machine once with jobs and returns its runs by
// chapter.
func bootDocsVM(t *testing.T, work string, files []cgroupv2vm.File, jobs []cgroupv2vm.DocsJob) map[string]cgroupv2vm.DocsRun {
	b, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	all := append(files[:len(files):len(files)], cgroupv2vm.File{Name: cgroupv2vm.DocsJobsFile, Mode: 0o644, Data: b})
	m, err := cgroupv2vm.PrepareWith(v2vmCache(t), work, cgroupv2vm.Options{Files: all, Modules: cgroupv2vm.DocsModules}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	// A new, empty disk for every boot: sparse, so it costs what is written.
	m.Disk = filepath.Join(work, "disk.img")
	if err := os.WriteFile(m.Disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(m.Disk, 1<<30); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", m.Disk).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 %s: %v\n%s", m.Disk, err, out)
	}
	serial := bootV2VM(t, m, work, "running the chapters", "CHECK ", "BOXVM", "docsguest:")
	runs, err := cgroupv2vm.ParseDocsRuns(serial)
	if err != nil {
		t.Fatal(err)
	}
	byChapter := map[string]cgroupv2vm.DocsRun{}
	for _, r := range runs {
		byChapter[r.Chapter] = r
	}
	return byChapter
}

// docsVMOutputs normalizes a run in the machine as runChapter does a run
// on the host, and cuts it into its blocks' outputs.
func docsVMOutputs(t *testing.T, name string, r cgroupv2vm.DocsRun, n int) []string {
	t.Helper()
	text := normalizeOutput(r.Output, outputPaths{pwd: r.Dir, rootfs: r.Rootfs, ownCgroups: docsCgroupDirsOf(r.Cgroup)}, r.PIDs)
	parts := strings.Split(text, blockSeparator+"\n")
	if len(parts) != n+1 {
		t.Fatalf("%s: the chapter's script printed %d block separators in the machine, want %d; output:\n%s", name, len(parts)-1, n, text)
	}
	if strings.TrimSpace(parts[0]) != "" {
		t.Errorf("%s: output before the first block in the machine: %q", name, parts[0])
	}
	outputs := parts[1:]
	for i := range outputs {
		outputs[i] = strings.TrimRight(outputs[i], "\n")
	}
	return outputs
}

// docsVMRewrite writes got into c's v2 blocks, in the chapter as it is now
// on disk: another test may have rewritten other blocks since it was read.
func docsVMRewrite(t *testing.T, c v2Chapter, got []string) {
	t.Helper()
	raw, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseOutputBlocks(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	var v2 []outputBlock
	for _, b := range blocks {
		if len(b.cgroups) > 0 && b.runsOn(2) {
			v2 = append(v2, b)
		}
	}
	if len(v2) != len(got) {
		t.Fatalf("%s changed while the machine ran: %d cgroup-v2 blocks, %d runs", c.path, len(v2), len(got))
	}
	if err := os.WriteFile(c.path, []byte(rewriteBlocks(string(raw), v2, got)), 0o644); err != nil {
		t.Fatal(err)
	}
}
