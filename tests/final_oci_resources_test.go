package tests

// final_oci_resources_test.go checks the parts of config.json's
// linux.resources that box's own run has no flag for: blockIO (weights and
// throttles per block device), hugepageLimits and network (net_cls's class
// id, net_prio's priorities). Each is read back from the kernel: the files
// of the container's cgroup, in the hierarchy each controller is in. Where
// this host lacks a controller or a file, create must fail in one line
// naming it, and leave nothing behind; which case applies is decided from
// the host before create, so each run checks one outcome.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"box/tests/cgroupv2vm"

	"golang.org/x/sys/unix"
)

// hostCgroupV2 tells whether /sys/fs/cgroup is cgroup2.
func hostCgroupV2() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// v1MountOf is the mount point of the v1 hierarchy that has controller, or
// "" where none has.
func v1MountOf(t *testing.T, controller string) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		before, after, ok := strings.Cut(sc.Text(), " - ")
		fields, super := strings.Fields(before), strings.Fields(after)
		if !ok || len(fields) < 5 || len(super) < 3 || super[0] != "cgroup" {
			continue
		}
		for _, o := range strings.Split(super[2], ",") {
			if o == controller {
				return fields[4]
			}
		}
	}
	return ""
}

// v2Offers tells whether the cgroup v2 root lists controller.
func v2Offers(controller string) bool {
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	return err == nil && contains(strings.Fields(string(b)), controller)
}

// resourceDir is where the container of bundle has controller's files: its
// directory in that controller's v1 hierarchy, or its one v2 directory;
// "" if a v1 host has no hierarchy with controller.
func resourceDir(t *testing.T, bundle, controller string) string {
	t.Helper()
	path := "/box-oci-test-" + filepath.Base(bundle)
	if hostCgroupV2() {
		return filepath.Join("/sys/fs/cgroup", path)
	}
	mount := v1MountOf(t, controller)
	if mount == "" {
		return ""
	}
	return filepath.Join(mount, path)
}

// withResources is a change for ociBundle that sets linux.resources.key.
func withResources(key string, value any) func(map[string]any) {
	return func(spec map[string]any) {
		linux := spec["linux"].(map[string]any)
		res, _ := linux["resources"].(map[string]any)
		if res == nil {
			res = map[string]any{}
			linux["resources"] = res
		}
		res[key] = value
	}
}

// readCgroupFile reads one file of the container's cgroup.
func readCgroupFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("read the kernel's value back: %v", err)
	}
	return string(b)
}

// createAndCheck creates a container from bundle, runs check on it while
// it is created (its process waits in its cgroup), then deletes it and
// checks that each of dirs is gone.
func createAndCheck(t *testing.T, e *ociEnv, bundle string, dirs []string, check func(pid int)) {
	t.Helper()
	id := "res-" + filepath.Base(bundle)
	e.createWithOutput(bundle, id)
	pid := e.state(id).Pid
	for _, dir := range dirs {
		if procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs")); err != nil || !containsLine(string(procs), strconv.Itoa(pid)) {
			t.Errorf("cgroup %s holds %q (%v), want the container's process %d", dir, procs, err, pid)
		}
	}
	check(pid)
	e.must("delete", "--force", id)
	for _, dir := range dirs {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s left behind after delete: %v", dir, err)
		}
	}
}

// refused runs create on bundle, wants it to fail in one line holding each
// of want, and nothing left behind (state, cgroups in every hierarchy,
// processes).
func refused(t *testing.T, e *ociEnv, bundle string, dirs []string, want ...string) {
	t.Helper()
	r := e.run("create", "--bundle", bundle, "refused-"+filepath.Base(bundle))
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	ok := r.code != 0 && len(lines) == 1
	for _, w := range want {
		ok = ok && strings.Contains(r.stderr, w)
	}
	if !ok {
		t.Errorf("create: %s\nwant a failure in one line saying %q", r, want)
	}
	ociNothingLeft(t, e, bundle)
	for _, dir := range dirs {
		if _, err := os.Stat(dir); dir != "" && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s left behind: %v", dir, err)
		}
	}
}

// blockDevice is a whole disk of this host as major:minor: a real one
// (not loop, ram or zram) if there is one, else the first of /sys/block.
func blockDevice(t *testing.T) string {
	t.Helper()
	entries, err := os.ReadDir("/sys/block")
	if err != nil || len(entries) == 0 {
		t.Fatalf("no block device in /sys/block (%v): blockIO needs one", err)
	}
	var real, virtual []string
	for _, en := range entries {
		dev, err := os.ReadFile(filepath.Join("/sys/block", en.Name(), "dev"))
		if err != nil {
			continue
		}
		target, _ := os.Readlink(filepath.Join("/sys/block", en.Name()))
		if strings.Contains(target, "/virtual/") {
			virtual = append(virtual, strings.TrimSpace(string(dev)))
		} else {
			real = append(real, strings.TrimSpace(string(dev)))
		}
	}
	sort.Strings(real)
	sort.Strings(virtual)
	if all := append(real, virtual...); len(all) > 0 {
		return all[0]
	}
	t.Fatal("no block device in /sys/block has a dev file")
	return ""
}

// majorMinor splits "254:0".
func majorMinor(dev string) (int64, int64) {
	a, b, _ := strings.Cut(dev, ":")
	major, _ := strconv.ParseInt(a, 10, 64)
	minor, _ := strconv.ParseInt(b, 10, 64)
	return major, minor
}

func TestFinalOCIResourcesBlockIO(t *testing.T) {
	e := newOCI(t)
	v2 := hostCgroupV2()
	if !v2 && v1MountOf(t, "blkio") == "" || v2 && !v2Offers("io") {
		// One line naming the controller, like every missing one.
		bundle := ociBundle(t, e, []string{"true"}, withResources("blockIO", map[string]any{"throttleReadBpsDevice": []any{map[string]any{"major": 1, "minor": 0, "rate": 1}}}))
		refused(t, e, bundle, nil, "blockIO", "controller")
		return
	}
	dev := blockDevice(t)
	major, minor := majorMinor(dev)
	throttle := func(rate int) []any { return []any{map[string]any{"major": major, "minor": minor, "rate": rate}} }

	t.Run("throttles", func(t *testing.T) {
		e := e.with(t)
		bundle := ociBundle(t, e, []string{"true"}, withResources("blockIO", map[string]any{
			"throttleReadBpsDevice":   throttle(1048576),
			"throttleWriteBpsDevice":  throttle(2097152),
			"throttleReadIOPSDevice":  throttle(100),
			"throttleWriteIOPSDevice": throttle(200),
		}))
		controller := "blkio"
		if v2 {
			controller = "io"
		}
		dir := resourceDir(t, bundle, controller)
		createAndCheck(t, e, bundle, []string{dir}, func(int) {
			if v2 {
				want := dev + " rbps=1048576 wbps=2097152 riops=100 wiops=200"
				if got := readCgroupFile(t, dir, "io.max"); !containsLine(got, want) {
					t.Errorf("io.max = %q, want the line %q", got, want)
				}
				return
			}
			for file, want := range map[string]string{
				"blkio.throttle.read_bps_device":   dev + " 1048576",
				"blkio.throttle.write_bps_device":  dev + " 2097152",
				"blkio.throttle.read_iops_device":  dev + " 100",
				"blkio.throttle.write_iops_device": dev + " 200",
			} {
				if got := readCgroupFile(t, dir, file); !containsLine(got, want) {
					t.Errorf("%s = %q, want the line %q", file, got, want)
				}
			}
		})
	})

	t.Run("narrated", func(t *testing.T) {
		e := e.with(t)
		bundle := ociBundle(t, e, []string{"true"}, withResources("blockIO", map[string]any{"throttleReadBpsDevice": throttle(4096)}))
		id := "explain-" + filepath.Base(bundle)
		// The narration of create: the why, then the write as the kernel
		// took it. The container's process keeps create's stderr: a file.
		out := filepath.Join(t.TempDir(), "explain")
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(e.bin, "--root", e.root, "--explain", "create", "--bundle", bundle, id)
		cmd.Stdout, cmd.Stderr = f, f
		err = cmd.Run()
		f.Close()
		defer e.run("delete", "--force", id)
		b, _ := os.ReadFile(out)
		r := result{stderr: string(b), code: cmd.ProcessState.ExitCode()}
		if err != nil && r.code == 0 {
			t.Fatal(err)
		}
		file, value := "blkio.throttle.read_bps_device", dev+" 4096"
		if v2 {
			file, value = "io.max", dev+" rbps=4096"
		}
		dir := resourceDir(t, bundle, map[bool]string{false: "blkio", true: "io"}[v2])
		for _, want := range []string{
			"Throttle the container's reads at 4096 bytes a second on device " + dev,
			"write " + filepath.Join(dir, file) + " <- \"" + value + "\" = 0",
		} {
			if r.code != 0 || !strings.Contains(r.stderr, want) {
				t.Errorf("create --explain: exit %d, want the narration to say %q:\n%s", r.code, want, r.stderr)
			}
		}
	})

	t.Run("weight", func(t *testing.T) {
		e := e.with(t)
		bundle := ociBundle(t, e, []string{"true"}, withResources("blockIO", map[string]any{"weight": 500}))
		if v2 {
			// io.weight (io.cost) or io.bfq.weight appear in a child only:
			// the outcome is one or the other, each checked.
			dir := resourceDir(t, bundle, "io")
			r := e.run("create", "--bundle", bundle, "w-"+filepath.Base(bundle))
			if r.code != 0 {
				refused(t, e, bundle, nil, "io.weight", "leave linux.resources.blockIO.weight out")
				return
			}
			defer e.run("delete", "--force", "w-"+filepath.Base(bundle))
			got, err := os.ReadFile(filepath.Join(dir, "io.weight"))
			want := "default 4950"
			if err != nil {
				got, want = []byte(readCgroupFile(t, dir, "io.bfq.weight")), "default 500"
			}
			if !containsLine(string(got), want) {
				t.Errorf("weight read back %q, want the line %q", got, want)
			}
			return
		}
		root := v1MountOf(t, "blkio")
		name := ""
		for _, n := range []string{"blkio.weight", "blkio.bfq.weight"} {
			if _, err := os.Stat(filepath.Join(root, n)); err == nil && name == "" {
				name = n
			}
		}
		dir := resourceDir(t, bundle, "blkio")
		if name == "" {
			refused(t, e, bundle, []string{dir}, "linux.resources.blockIO.weight", "no blkio.weight", "blkio.bfq.weight")
			return
		}
		createAndCheck(t, e, bundle, []string{dir}, func(int) {
			if got := strings.TrimSpace(readCgroupFile(t, dir, name)); got != "500" && !strings.Contains(got, "default 500") {
				t.Errorf("%s = %q, want 500", name, got)
			}
		})
	})

	t.Run("bad input", func(t *testing.T) {
		e := e.with(t)
		for _, row := range []struct {
			name    string
			blockIO map[string]any
			want    string
		}{
			{"weight below 10", map[string]any{"weight": 5}, "weight 5 is out of range"},
			{"weightDevice of the wrong type", map[string]any{"weightDevice": []any{map[string]any{"major": "eight"}}}, "linux.resources.blockIO.weightDevice"},
			{"no such device", map[string]any{"throttleReadBpsDevice": []any{map[string]any{"major": 4095, "minor": 4095, "rate": 1}}}, "4095:4095"},
		} {
			t.Run(row.name, func(t *testing.T) {
				bundle := ociBundle(t, e.with(t), []string{"true"}, withResources("blockIO", row.blockIO))
				refused(t, e.with(t), bundle, []string{resourceDir(t, bundle, map[bool]string{false: "blkio", true: "io"}[v2])}, row.want)
			})
		}
	})
}

// hugepageSize is the smallest huge page size of this kernel as the
// hugetlb files name it (2MB), and its bytes.
func hugepageSize(t *testing.T) (string, int64) {
	t.Helper()
	entries, _ := os.ReadDir("/sys/kernel/mm/hugepages")
	best := int64(0)
	for _, en := range entries {
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(en.Name(), "hugepages-"), "kB"), 10, 64)
		if err == nil && (best == 0 || kb < best) {
			best = kb
		}
	}
	switch {
	case best == 0:
		return "", 0
	case best%(1<<20) == 0:
		return strconv.FormatInt(best>>20, 10) + "GB", best << 10
	case best%(1<<10) == 0:
		return strconv.FormatInt(best>>10, 10) + "MB", best << 10
	}
	return strconv.FormatInt(best, 10) + "KB", best << 10
}

func TestFinalOCIResourcesHugepages(t *testing.T) {
	e := newOCI(t)
	v2 := hostCgroupV2()
	size, bytes := hugepageSize(t)
	limit := func(pageSize string, n int64) []any {
		return []any{map[string]any{"pageSize": pageSize, "limit": n}}
	}
	t.Run("page size syntax", func(t *testing.T) {
		bundle := ociBundle(t, e.with(t), []string{"true"}, withResources("hugepageLimits", limit("2XB", 1)))
		refused(t, e.with(t), bundle, nil, `pageSize "2XB" is not a huge page size`)
	})
	available := v2 && v2Offers("hugetlb") || !v2 && v1MountOf(t, "hugetlb") != ""
	if !available || size == "" {
		bundle := ociBundle(t, e, []string{"true"}, withResources("hugepageLimits", limit("2MB", 2<<20)))
		want := []string{"linux.resources.hugepageLimits[0] needs the hugetlb controller"}
		if b, err := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers"); !v2 && err == nil && contains(strings.Fields(string(b)), "hugetlb") {
			// This kind of host: hybrid, hugetlb bound to cgroup2.
			want = append(want, "/sys/fs/cgroup/unified")
		}
		refused(t, e, bundle, nil, want...)
		return
	}
	t.Run("limit", func(t *testing.T) {
		e := e.with(t)
		bundle := ociBundle(t, e, []string{"true"}, withResources("hugepageLimits", limit(size, 2*bytes)))
		dir := resourceDir(t, bundle, "hugetlb")
		file := "hugetlb." + size + ".limit_in_bytes"
		if v2 {
			file = "hugetlb." + size + ".max"
		}
		createAndCheck(t, e, bundle, []string{dir}, func(int) {
			if got := strings.TrimSpace(readCgroupFile(t, dir, file)); got != strconv.FormatInt(2*bytes, 10) {
				t.Errorf("%s = %q, want %d", file, got, 2*bytes)
			}
		})
	})
	t.Run("a size the kernel lacks", func(t *testing.T) {
		bundle := ociBundle(t, e.with(t), []string{"true"}, withResources("hugepageLimits", limit("3MB", 3<<20)))
		refused(t, e.with(t), bundle, []string{resourceDir(t, bundle, "hugetlb")}, "3MB is not a huge page size of this kernel", size)
	})
}

func TestFinalOCIResourcesNetwork(t *testing.T) {
	e := newOCI(t)
	network := map[string]any{"classID": 0x100001, "priorities": []any{map[string]any{"name": "lo", "priority": 5}}}
	bundle := ociBundle(t, e, []string{"true"}, withResources("network", network))
	if hostCgroupV2() {
		refused(t, e, bundle, nil, "linux.resources.network", "cgroup v1 only")
		return
	}
	cls, prio := v1MountOf(t, "net_cls"), v1MountOf(t, "net_prio")
	switch {
	case cls == "":
		refused(t, e, bundle, nil, "linux.resources.network.classID needs the net_cls controller")
		return
	case prio == "":
		refused(t, e, bundle, []string{resourceDir(t, bundle, "net_cls")}, "linux.resources.network.priorities[0] needs the net_prio controller")
		return
	}
	clsDir, prioDir := resourceDir(t, bundle, "net_cls"), resourceDir(t, bundle, "net_prio")
	createAndCheck(t, e, bundle, []string{clsDir, prioDir}, func(int) {
		if got := strings.TrimSpace(readCgroupFile(t, clsDir, "net_cls.classid")); got != strconv.Itoa(0x100001) {
			t.Errorf("net_cls.classid = %q, want %d", got, 0x100001)
		}
		if got := readCgroupFile(t, prioDir, "net_prio.ifpriomap"); !containsLine(got, "lo 5") {
			t.Errorf("net_prio.ifpriomap = %q, want the line \"lo 5\"", got)
		}
	})
}

// v2ResourceCase is one container the cgroup v2 machine creates: its
// config.json's linux.resources and cgroupsPath, and what the guest
// script then checks, as shell (the container is created, not started).
type v2ResourceCase struct {
	name      string
	path      string // linux.cgroupsPath
	resources map[string]any
	check     string // shell; $dir is the container's cgroup, $out create's output
	refused   string // instead: create must fail in one line holding this
}

// v2ResourceCases are the checks of linux.resources on cgroup v2: each
// value read back from the kernel's files, or refused in one line.
var v2ResourceCases = []v2ResourceCase{
	{name: "hugepageLimits: hugetlb.2MB.max, at an absolute path", path: "/ocires-abs",
		resources: map[string]any{"hugepageLimits": []any{map[string]any{"pageSize": "2MB", "limit": 4 << 20}}},
		check:     `[ "$(cat $dir/hugetlb.2MB.max)" = 4194304 ] || { echo "hugetlb.2MB.max: $(cat $dir/hugetlb.2MB.max)"; false; }`},
	{name: "hugepageLimits below box's cgroup: box hands hugetlb down", path: "ocires-rel",
		resources: map[string]any{"hugepageLimits": []any{map[string]any{"pageSize": "2MB", "limit": 2 << 20}}},
		check:     `[ "$(cat $dir/hugetlb.2MB.max)" = 2097152 ] && grep -qw hugetlb /sys/fs/cgroup/box/cgroup.subtree_control`},
	{name: "blockIO.weight: io.weight (or io.bfq.weight), or refused naming it", path: "/ocires-weight",
		resources: map[string]any{"blockIO": map[string]any{"weight": 500}},
		check: `if [ -n "$refused" ]; then echo "refused: $refused"; echo "$refused" | grep -q "io.weight" && [ $(echo "$refused" | wc -l) -eq 1 ];
		elif [ -f $dir/io.weight ]; then echo "io.weight: $(cat $dir/io.weight)"; grep -qx "default 4950" $dir/io.weight;
		else echo "io.bfq.weight: $(cat $dir/io.bfq.weight)"; grep -qx "default 500" $dir/io.bfq.weight; fi`},
	{name: "blockIO throttles: io.max, or no such device refused naming it", path: "/ocires-max",
		resources: map[string]any{"blockIO": map[string]any{
			"throttleReadBpsDevice":   []any{map[string]any{"major": 7, "minor": 0, "rate": 1048576}},
			"throttleWriteIOPSDevice": []any{map[string]any{"major": 7, "minor": 0, "rate": 50}},
		}},
		check: `if [ -e /sys/dev/block/7:0 ]; then echo "io.max: $(cat $dir/io.max)"; grep -qx "7:0 rbps=1048576 wbps=max riops=max wiops=50" $dir/io.max;
		else echo "refused: $refused"; echo "$refused" | grep -q "no whole block device 7:0"; fi`},
	{name: "blockIO.leafWeight refused: v2 has no leaf weights", path: "/ocires-leaf",
		resources: map[string]any{"blockIO": map[string]any{"leafWeight": 300}}, refused: "leafWeight has no cgroup v2 counterpart"},
	{name: "network refused: net_cls and net_prio are v1's", path: "/ocires-net",
		resources: map[string]any{"network": map[string]any{"classID": 1}}, refused: "exist in cgroup v1 only"},
}

// v2ResourcesGuest is the guest program: a shell script for the machine's
// busybox, with each case's config.json written in from the host's spec.
func v2ResourcesGuest(t *testing.T, base map[string]any) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`#!/bin/sh
# The guest of TestFinalOCIResourcesV2VM: box-runc creates a container per
# case, the script reads the kernel's values back and deletes it.
box=$1
ln -s "$box" /tmp/box-runc
rootfs=/tmp/ocires/rootfs
mkdir -p $rootfs/bin $rootfs/proc $rootfs/sys $rootfs/dev $rootfs/tmp
cp /bin/busybox $rootfs/bin/busybox
ln -s busybox $rootfs/bin/sh
ln -s busybox $rootfs/bin/true
echo "BOXVM: block devices: $(ls /sys/block | tr '\n' ' ')"
passed=0 failed=0
run() { # run BUNDLE NAME PATH REFUSED CHECK
	bundle=$1 name=$2 path=$3 want=$4 check=$5 out=
	case $path in /*) dir=/sys/fs/cgroup$path ;; *) dir=/sys/fs/cgroup/box/$path ;; esac
	refused=
	if ! /tmp/box-runc --root /run/ocires create --bundle $bundle c </dev/null >$bundle.out 2>&1; then
		refused=$(cat $bundle.out)
	fi
	ok=1
	if [ -n "$want" ]; then
		{ [ -n "$refused" ] && echo "$refused" | grep -qF "$want" && [ $(echo "$refused" | wc -l) -eq 1 ]; } || ok=
	elif ! out=$(refused="$refused" dir=$dir sh -c "$check" 2>&1); then
		ok=
	fi
	/tmp/box-runc --root /run/ocires delete --force c >/dev/null 2>&1
	[ -d $dir ] && { ok=; echo "      cgroup $dir left behind"; }
	if [ -n "$ok" ]; then passed=$((passed+1)); echo "CHECK $name PASS"; [ -n "$out" ] && echo "      $out";
	else failed=$((failed+1)); echo "CHECK $name FAIL: $refused $out"; fi
}
`)
	for i, c := range v2ResourceCases {
		spec := map[string]any{}
		raw, _ := json.Marshal(base)
		json.Unmarshal(raw, &spec)
		linux := spec["linux"].(map[string]any)
		linux["cgroupsPath"] = c.path
		linux["resources"] = c.resources
		config, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		bundle := fmt.Sprintf("/tmp/ocires/b%d", i)
		fmt.Fprintf(&b, "mkdir -p %s\ncat > %s/config.json <<'CONFIG'\n%s\nCONFIG\n", bundle, bundle, config)
		fmt.Fprintf(&b, "run %s %s %s %s %s\n", bundle, shellQuote(c.name), shellQuote(c.path), shellQuote(c.refused), shellQuote(c.check))
	}
	b.WriteString(`result=PASS
[ $failed -gt 0 ] && result=FAIL
echo "BOXVM-RESULT: $result ($passed passed, $failed failed)"
[ $failed = 0 ]
`)
	return b.String()
}

// TestFinalOCIResourcesV2VM boots the cgroup v2 machine (see
// cgroupv2vm) with final as /box and checks linux.resources there, where
// blockIO is io.weight and io.max, hugepageLimits hugetlb.<size>.max, and
// network is refused.
func TestFinalOCIResourcesV2VM(t *testing.T) {
	requireTool(t, "qemu-system-x86_64")
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg-deb", "timeout"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to build the virtual machine (Debian's apt and dpkg)", tool)
		}
	}
	e := newOCI(t)
	// The host's box-runc spec, run in the machine's rootfs: no terminal,
	// the program true (the containers are only created).
	dir := t.TempDir()
	e.must("spec", "--bundle", dir)
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var base map[string]any
	if err := json.Unmarshal(raw, &base); err != nil {
		t.Fatal(err)
	}
	base["root"] = map[string]any{"path": "/tmp/ocires/rootfs"}
	process := base["process"].(map[string]any)
	process["terminal"] = false
	process["args"] = []string{"true"}

	work := t.TempDir()
	guest := filepath.Join(work, "guest.sh")
	if err := os.WriteFile(guest, []byte(v2ResourcesGuest(t, base)), 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := cgroupv2vm.Prepare(v2vmCache(t), work, binary(t, finalStep), guest, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	serial := bootV2VM(t, m, work, "the linux.resources checks", "CHECK ", "      ", "BOX")
	if n := strings.Count(serial, "\nCHECK "); n != len(v2ResourceCases) {
		t.Errorf("the guest reported %d checks, want %d", n, len(v2ResourceCases))
	}
}
