package cgroups

// ociresources.go finds the controllers an OCI config's resources need
// beyond box's own (blkio, hugetlb, net_cls and net_prio in v1; io and
// hugetlb in v2), and writes each value with a sentence of why before it.
// Where the host lacks a controller or a file, create fails in one line
// that names it and the config.json field it is for, as runc does (it
// cannot set the limit): a container must not run with a limit it asked
// for silently missing.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"box/final/internal/narrate"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// controllerOf is the controller a control file belongs to, its name up to
// the first dot: blkio.weight is blkio's, hugetlb.2MB.max hugetlb's.
func controllerOf(name string) string {
	c, _, _ := strings.Cut(name, ".")
	return c
}

// v2Known are the controllers cgroup v2 may list in cgroup.controllers: a
// file whose prefix is one of them needs that controller handed down.
var v2Known = []string{"cpu", "cpuset", "io", "memory", "hugetlb", "pids", "rdma", "misc"}

// needed lists, in order, the controllers files need that parents do not
// have, with the first file that needs each (for its config.json field).
func needed(files []File, parents []Dir) (names []string, by map[string]File) {
	have := map[string]bool{}
	for _, p := range parents {
		for _, c := range p.Controllers {
			have[c] = true
		}
	}
	by = map[string]File{}
	for _, f := range files {
		c := controllerOf(f.Name)
		if have[c] || c == "devices" || c == "cgroup" {
			continue // devices: v1's hierarchy is box's; v2 has no such files
		}
		if _, seen := by[c]; !seen {
			names = append(names, c)
			by[c] = f
		}
	}
	return names, by
}

// ociV1Parents adds to parents the v1 hierarchies of the controllers files
// need beyond box's, and fails in one line for one that is not mounted.
func ociV1Parents(parents []Dir, files []File) ([]Dir, error) {
	want, by := needed(files, parents)
	if len(want) == 0 {
		return parents, nil
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read our cgroups: %w", err)
	}
	extra := parseV1ParentsOf(string(mountinfo), string(own), want)
	for _, c := range want {
		found := false
		for _, d := range extra {
			found = found || contains(d.Controllers, c)
		}
		if !found {
			return nil, missingV1Controller(c, by[c])
		}
	}
	// A hierarchy box has already (one mounted with cpu, say) takes the
	// extra controller into its directory rather than a second one.
	for _, d := range extra {
		merged := false
		for i := range parents {
			if parents[i].Path == d.Path {
				parents[i].Controllers = append(parents[i].Controllers, d.Controllers...)
				merged = true
			}
		}
		if !merged {
			parents = append(parents, d)
		}
	}
	return parents, nil
}

// missingV1Controller is the one line for a controller no v1 hierarchy
// here has, with why: not mounted at all, or (a hybrid host) bound to the
// cgroup2 hierarchy beside them.
func missingV1Controller(c string, f File) error {
	why := "no cgroup v1 hierarchy here has it (none is mounted: see /proc/self/mountinfo)"
	if b, err := os.ReadFile(Root + "/unified/cgroup.controllers"); err == nil && contains(strings.Fields(string(b)), c) {
		why = fmt.Sprintf("this hybrid host gives it to the cgroup2 hierarchy at %s/unified, not to a v1 hierarchy, which is where cgroup v1 containers are", Root)
	} else if b, err := os.ReadFile("/proc/cgroups"); err == nil && !listsController(string(b), c) {
		why = "this kernel does not have it (/proc/cgroups does not list it)"
	}
	return fmt.Errorf("%s needs the %s controller, but %s; leave %s out", fieldOf(f), c, why, fieldOf(f))
}

// listsController tells whether /proc/cgroups's text lists controller c.
func listsController(procCgroups, c string) bool {
	for _, line := range strings.Split(procCgroups, "\n") {
		if fields := strings.Fields(line); len(fields) > 0 && fields[0] == c {
			return true
		}
	}
	return false
}

// ociV2Controllers hands down, from the root to top, the controllers files
// need beyond box's, and returns parent with them; it fails in one line
// for one the root does not offer. relative tells whether the container's
// cgroup goes below box's (top is then v2Parent) rather than the root.
func ociV2Controllers(parent Dir, files []File, relative bool) (Dir, error) {
	want, by := needed(files, []Dir{parent})
	var add []string
	for _, c := range want {
		if contains(v2Known, c) {
			add = append(add, c)
		}
	}
	if len(add) == 0 {
		return parent, nil
	}
	text, err := sys.ReadCgroupFile(Root + "/cgroup.controllers")
	if err != nil {
		return parent, err
	}
	for _, c := range add {
		if !contains(strings.Fields(text), c) {
			return parent, fmt.Errorf("%s needs the %s controller, which this host's cgroup v2 root does not offer (%s/cgroup.controllers); leave %s out", fieldOf(by[c]), c, Root, fieldOf(by[c]))
		}
	}
	narrate.Explain(narrate.Cgroup, "config.json's resources need %s too: hand them down like the others.", strings.Join(add, ", "))
	if err := enableControllers(Root, add); err != nil {
		return parent, err
	}
	if relative {
		if err := enableControllers(v2Parent, add); err != nil {
			return parent, err
		}
	}
	parent.Controllers = append(append([]string(nil), parent.Controllers...), add...)
	return parent, nil
}

// fieldOf names the config.json field a file's value comes from.
func fieldOf(f File) string {
	if f.Field != "" {
		return f.Field
	}
	return "linux.resources (" + f.Name + ")"
}

// writeResource writes one file of the container's cgroup, with its why.
// A file the kernel does not have is written as its Else, if it has one;
// otherwise, or if that is missing too, it fails in one line naming the
// field and what the kernel lacks.
func writeResource(cg *Cgroup, f File) error {
	path := cg.file(controllerOf(f.Name), f.Name)
	if path == "" || strings.Contains(f.Name, "/") {
		return fmt.Errorf("%s: cgroup file %s: no %s controller here (see /proc/self/cgroup); leave that limit out", fieldOf(f), f.Name, controllerOf(f.Name))
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if f.Else != nil {
			if _, err := os.Stat(cg.file(controllerOf(f.Else.Name), f.Else.Name)); err == nil {
				if f.Why != "" {
					narrate.Explain(narrate.Cgroup, "%s", f.Why)
				}
				narrate.Explain(narrate.Cgroup, "This kernel has no %s; %s is the same knob here.", f.Name, f.Else.Name)
				other := *f.Else
				if other.Field == "" {
					other.Field = f.Field
				}
				return writeResource(cg, other)
			}
		}
		return missingFile(f, filepath.Dir(path))
	}
	if f.Why != "" {
		narrate.Explain(narrate.Cgroup, "%s", f.Why)
	}
	err := sys.WriteFile(path, f.Value)
	if err == nil {
		return nil
	}
	// The per-device files start with the device, "8:0 1048576".
	if dev, _, _ := strings.Cut(f.Value, " "); errors.Is(err, unix.ENODEV) && strings.Contains(dev, ":") {
		return fmt.Errorf("%s: %w: no whole block device %s here (see /sys/block); name a disk that exists", fieldOf(f), err, dev)
	}
	return fmt.Errorf("%s: %w", fieldOf(f), err)
}

// missingFile is the one line for a control file the kernel does not
// have in dir, saying why where that is known.
func missingFile(f File, dir string) error {
	why := ""
	switch name := f.Name; {
	case (name == "blkio.weight" || name == "blkio.weight_device") && f.Else != nil:
		why = fmt.Sprintf("this kernel has neither it (the CFQ I/O scheduler's, gone since Linux 5.0) nor %s (the BFQ scheduler is not loaded: modprobe bfq)", f.Else.Name)
	case strings.HasPrefix(name, "blkio.leaf_weight"):
		why = "leaf weights were the CFQ I/O scheduler's, gone since Linux 5.0"
	case name == "io.weight" && f.Else != nil:
		why = fmt.Sprintf("this kernel has neither it (the io.cost controller's) nor %s (the BFQ scheduler is not loaded: modprobe bfq)", f.Else.Name)
	case controllerOf(name) == "hugetlb":
		size := strings.Split(name, ".")[1]
		why = fmt.Sprintf("%s is not a huge page size of this kernel, which has %s (/sys/kernel/mm/hugepages)", size, strings.Join(HugepageSizes(), ", "))
	default:
		why = "this kernel does not have that file"
	}
	return fmt.Errorf("%s: %s has no %s: %s; leave %s out", fieldOf(f), dir, f.Name, why, fieldOf(f))
}

// HugepageSizes are the kernel's huge page sizes as the hugetlb controller
// names its files (2MB, 1GB), from /sys/kernel/mm/hugepages/hugepages-NkB.
func HugepageSizes() []string {
	entries, _ := os.ReadDir("/sys/kernel/mm/hugepages")
	var kbs []int
	for _, e := range entries {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(e.Name(), "hugepages-"), "kB"))
		if err == nil {
			kbs = append(kbs, n)
		}
	}
	sort.Ints(kbs)
	sizes := make([]string, 0, len(kbs))
	for _, kb := range kbs {
		sizes = append(sizes, hugepageName(kb))
	}
	if len(sizes) == 0 {
		return []string{"none"}
	}
	return sizes
}

// hugepageName names a page of kb kilobytes as the kernel's hugetlb files
// do (mm/hugetlb_cgroup.c): in the largest unit that divides it.
func hugepageName(kb int) string {
	switch {
	case kb%(1<<20) == 0:
		return strconv.Itoa(kb>>20) + "GB"
	case kb%(1<<10) == 0:
		return strconv.Itoa(kb>>10) + "MB"
	}
	return strconv.Itoa(kb) + "KB"
}
