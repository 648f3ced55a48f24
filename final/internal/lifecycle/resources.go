package lifecycle

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"box/final/internal/cgroups"
	"box/final/internal/oci"
)

// defaultDevices are the devices every container may use, whatever the
// spec's rules say, as runc allows them: null, zero, full, tty, random,
// urandom, the console, ptmx and the pseudo-terminals.
var defaultDevices = []cgroups.Device{
	{Type: 'c', Major: 1, Minor: 3}, {Type: 'c', Major: 1, Minor: 5}, {Type: 'c', Major: 1, Minor: 7},
	{Type: 'c', Major: 1, Minor: 8}, {Type: 'c', Major: 1, Minor: 9}, {Type: 'c', Major: 5, Minor: 0},
	{Type: 'c', Major: 5, Minor: 1}, {Type: 'c', Major: 5, Minor: 2}, {Type: 'c', Major: 136, Minor: -1},
}

// resourceFiles turns the spec's resources into cgroup files for cgroup
// version v, in the order to write them, and the device allowlist.
func resourceFiles(res *oci.Resources, nodes []oci.Device, v int) ([]cgroups.File, []cgroups.Device, error) {
	if res == nil {
		res = &oci.Resources{}
	}
	// The spec's rules first, in its order (the spec asks for it), then
	// the defaults.
	var devices []cgroups.Device
	var files []cgroups.File
	add := func(name string, value string) { files = append(files, cgroups.File{Name: name, Value: value}) }
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	max := func(n int64) string {
		if n < 0 {
			return "max"
		}
		return itoa(n)
	}
	for _, d := range res.Devices {
		if !d.Allow {
			continue // the allowlist starts from nothing: a deny rule only says so
		}
		dev := cgroups.Device{Type: 'a', Major: -1, Minor: -1}
		if d.Type != "" {
			dev.Type = d.Type[0]
		}
		if d.Major != nil {
			dev.Major = *d.Major
		}
		if d.Minor != nil {
			dev.Minor = *d.Minor
		}
		if v == 1 {
			// v1 takes the rule as written, access included ("b 8:20 rw").
			access := d.Access
			if access == "" {
				access = "rwm"
			}
			add("devices.allow", strings.Replace(dev.Rule(), "rwm", access, 1))
			continue
		}
		if dev.Type == 'a' {
			c, b := dev, dev
			c.Type, b.Type = 'c', 'b'
			devices = append(devices, c, b)
			continue
		}
		devices = append(devices, dev)
	}
	// The nodes linux.devices makes are allowed too, as runc does: the
	// container's process makes them, and mknod asks the cgroup.
	nodeRules := append([]cgroups.Device(nil), defaultDevices...)
	for _, n := range nodes {
		if len(n.Type) == 1 && n.Type != "p" {
			t := n.Type[0]
			if t == 'u' {
				t = 'c'
			}
			nodeRules = append(nodeRules, cgroups.Device{Type: t, Major: n.Major, Minor: n.Minor})
		}
	}
	if v == 1 {
		for _, d := range nodeRules {
			add("devices.allow", d.Rule())
		}
		// configure denies every device first; the files above allow.
		devices = []cgroups.Device{}
	} else {
		devices = append(devices, nodeRules...)
	}
	if m := res.Memory; m != nil {
		if v == 1 {
			if m.Limit != nil {
				add("memory.limit_in_bytes", itoa(*m.Limit))
			}
			if m.Swap != nil {
				add("memory.memsw.limit_in_bytes", itoa(*m.Swap))
			}
			if m.Reservation != nil {
				add("memory.soft_limit_in_bytes", itoa(*m.Reservation))
			}
			// memory.kmem.limit_in_bytes is gone from Linux 6.x (kernel is
			// left out); the TCP buffers' limit is still there.
			if m.KernelTCP != nil {
				add("memory.kmem.tcp.limit_in_bytes", itoa(*m.KernelTCP))
			}
			if m.Swappiness != nil && *m.Swappiness <= 100 {
				add("memory.swappiness", strconv.FormatUint(*m.Swappiness, 10))
			}
			if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
				add("memory.oom_control", "1")
			}
		} else {
			if m.Limit != nil {
				add("memory.max", max(*m.Limit))
			}
			if m.Swap != nil {
				// v1's swap is memory plus swap; v2's memory.swap.max is swap alone.
				swap := *m.Swap
				if swap > 0 && m.Limit != nil && *m.Limit > 0 {
					swap -= *m.Limit
				}
				add("memory.swap.max", max(swap))
			}
			if m.Reservation != nil {
				add("memory.low", max(*m.Reservation))
			}
		}
	}
	if c := res.CPU; c != nil {
		if v == 1 {
			if c.Shares != nil && *c.Shares > 0 {
				add("cpu.shares", strconv.FormatUint(*c.Shares, 10))
			}
			if c.Period != nil && *c.Period > 0 {
				add("cpu.cfs_period_us", strconv.FormatUint(*c.Period, 10))
			}
			if c.Quota != nil && *c.Quota != 0 {
				add("cpu.cfs_quota_us", itoa(*c.Quota))
			}
			if c.RealtimePeriod != nil && *c.RealtimePeriod > 0 {
				add("cpu.rt_period_us", strconv.FormatUint(*c.RealtimePeriod, 10))
			}
			if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
				add("cpu.rt_runtime_us", itoa(*c.RealtimeRuntime))
			}
		} else {
			if c.Shares != nil && *c.Shares > 0 {
				// The linear map from shares (2..262144) to weight (1..10000).
				add("cpu.weight", strconv.FormatUint(1+((*c.Shares-2)*9999)/262142, 10))
			}
			if c.Quota != nil && *c.Quota != 0 {
				period := uint64(cgroups.CPUPeriod)
				if c.Period != nil && *c.Period > 0 {
					period = *c.Period
				}
				add("cpu.max", fmt.Sprintf("%s %d", max(*c.Quota), period))
			}
		}
		if c.Cpus != "" {
			add("cpuset.cpus", c.Cpus)
		}
		if c.Mems != "" {
			add("cpuset.mems", c.Mems)
		}
	}
	if p := res.Pids; p != nil {
		value := itoa(p.Limit)
		if p.Limit <= 0 {
			value = "max"
		}
		add("pids.max", value)
	}
	more, err := blockIOFiles(res.BlockIO, v)
	if err != nil {
		return nil, nil, err
	}
	files = append(files, more...)
	more, err = hugepageFiles(res.HugepageLimits, v)
	if err != nil {
		return nil, nil, err
	}
	files = append(files, more...)
	more, err = networkFiles(res.Network, v)
	if err != nil {
		return nil, nil, err
	}
	files = append(files, more...)
	if v == 2 {
		names := make([]string, 0, len(res.Unified))
		for name := range res.Unified {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			add(name, res.Unified[name])
		}
	} else if len(res.Unified) > 0 {
		return nil, nil, fmt.Errorf("linux.resources.unified needs cgroup v2, and this host has v1; use the v1 fields")
	}
	return files, devices, nil
}

// blkio weights run from 10 to 1000 (v1's blkio.weight, and blockIO's
// scale); v2's io.weight from 1 to 10000.
const (
	minBlkioWeight = 10
	maxBlkioWeight = 1000
)

// weightDevice and interfacePriority are the entries of blockIO's
// weightDevice and network's priorities, which package oci keeps as read.
type weightDevice struct {
	Major      int64   `json:"major"`
	Minor      int64   `json:"minor"`
	Weight     *uint16 `json:"weight,omitempty"`
	LeafWeight *uint16 `json:"leafWeight,omitempty"`
}

type interfacePriority struct {
	Name     string `json:"name"`
	Priority uint32 `json:"priority"`
}

// decodeEntries reads a list package oci kept as JSON objects into out.
func decodeEntries(field string, list []oci.Opaque, out any) error {
	b, err := json.Marshal(list)
	if err == nil {
		err = json.Unmarshal(b, out)
	}
	if err != nil {
		return fmt.Errorf("%s: %v; see the runtime spec's config-linux.md", field, err)
	}
	return nil
}

// blockIOFiles are the writes for linux.resources.blockIO: weights and
// throttles per block device, in v1's blkio files or v2's io.weight and
// io.max. A weight of 0 is not set, as runc reads it.
func blockIOFiles(b *oci.BlockIO, v int) ([]cgroups.File, error) {
	if b == nil {
		return nil, nil
	}
	const field = "linux.resources.blockIO"
	var devices []weightDevice
	if err := decodeEntries(field+".weightDevice", b.WeightDevice, &devices); err != nil {
		return nil, err
	}
	checkWeight := func(name string, w *uint16) (bool, error) {
		if w == nil || *w == 0 {
			return false, nil
		}
		if *w < minBlkioWeight || *w > maxBlkioWeight {
			return false, fmt.Errorf("%s.%s %d is out of range: give %d to %d", field, name, *w, minBlkioWeight, maxBlkioWeight)
		}
		return true, nil
	}
	var files []cgroups.File
	add := func(f cgroups.File) { files = append(files, f) }
	dev := func(major, minor int64) string { return fmt.Sprintf("%d:%d", major, minor) }
	if ok, err := checkWeight("weight", b.Weight); err != nil {
		return nil, err
	} else if ok && v == 1 {
		add(cgroups.File{Name: "blkio.weight", Value: strconv.Itoa(int(*b.Weight)), Field: field + ".weight",
			Why:  fmt.Sprintf("Weigh the container's share of a busy disk against its siblings' (blkio.weight %d, of 10 to 1000): the I/O scheduler hands out disk time in that proportion.", *b.Weight),
			Else: &cgroups.File{Name: "blkio.bfq.weight", Value: strconv.Itoa(int(*b.Weight))}})
	} else if ok {
		add(cgroups.File{Name: "io.weight", Value: "default " + strconv.Itoa(ioWeight(*b.Weight)), Field: field + ".weight",
			Why:  fmt.Sprintf("Weigh the container's share of a busy disk against its siblings' (io.weight %d, of 1 to 10000: blockIO's %d on the 10-to-1000 scale of v1).", ioWeight(*b.Weight), *b.Weight),
			Else: &cgroups.File{Name: "io.bfq.weight", Value: "default " + strconv.Itoa(int(*b.Weight))}})
	}
	if ok, err := checkWeight("leafWeight", b.LeafWeight); err != nil {
		return nil, err
	} else if ok && v == 1 {
		add(cgroups.File{Name: "blkio.leaf_weight", Value: strconv.Itoa(int(*b.LeafWeight)), Field: field + ".leafWeight",
			Why: fmt.Sprintf("Weigh the container's own processes against its child cgroups on a busy disk (blkio.leaf_weight %d).", *b.LeafWeight)})
	} else if ok {
		return nil, fmt.Errorf("%s.leafWeight has no cgroup v2 counterpart (v2 weighs a cgroup's own processes as one more child); leave it out", field)
	}
	for i, d := range devices {
		name := fmt.Sprintf("%s.weightDevice[%d]", field, i)
		if ok, err := checkWeight(fmt.Sprintf("weightDevice[%d].weight", i), d.Weight); err != nil {
			return nil, err
		} else if ok && v == 1 {
			value := dev(d.Major, d.Minor) + " " + strconv.Itoa(int(*d.Weight))
			add(cgroups.File{Name: "blkio.weight_device", Value: value, Field: name,
				Why:  fmt.Sprintf("Weigh the container's share of device %s alone (blkio.weight_device).", dev(d.Major, d.Minor)),
				Else: &cgroups.File{Name: "blkio.bfq.weight_device", Value: value}})
		} else if ok {
			add(cgroups.File{Name: "io.weight", Value: dev(d.Major, d.Minor) + " " + strconv.Itoa(ioWeight(*d.Weight)), Field: name,
				Why:  fmt.Sprintf("Weigh the container's share of device %s alone (io.weight, on v2's scale).", dev(d.Major, d.Minor)),
				Else: &cgroups.File{Name: "io.bfq.weight", Value: dev(d.Major, d.Minor) + " " + strconv.Itoa(int(*d.Weight))}})
		}
		if ok, err := checkWeight(fmt.Sprintf("weightDevice[%d].leafWeight", i), d.LeafWeight); err != nil {
			return nil, err
		} else if ok && v == 1 {
			add(cgroups.File{Name: "blkio.leaf_weight_device", Value: dev(d.Major, d.Minor) + " " + strconv.Itoa(int(*d.LeafWeight)), Field: name,
				Why: fmt.Sprintf("Weigh the container's own processes against its child cgroups on device %s (blkio.leaf_weight_device).", dev(d.Major, d.Minor))})
		} else if ok {
			return nil, fmt.Errorf("%s.leafWeight has no cgroup v2 counterpart (v2 weighs a cgroup's own processes as one more child); leave it out", name)
		}
	}
	throttles := []struct {
		name, v1File, v2Key, what string
		list                      []oci.ThrottleDevice
	}{
		{"throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps", "reads at %d bytes", b.ThrottleReadBpsDevice},
		{"throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps", "writes at %d bytes", b.ThrottleWriteBpsDevice},
		{"throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops", "reads at %d operations", b.ThrottleReadIOPSDevice},
		{"throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops", "writes at %d operations", b.ThrottleWriteIOPSDevice},
	}
	for _, t := range throttles {
		for i, d := range t.list {
			f := cgroups.File{Name: t.v1File, Value: fmt.Sprintf("%s %d", dev(d.Major, d.Minor), d.Rate),
				Field: fmt.Sprintf("%s.%s[%d]", field, t.name, i)}
			what := fmt.Sprintf(t.what, d.Rate)
			f.Why = fmt.Sprintf("Throttle the container's %s a second on device %s (%s): past it the kernel holds its I/O back; 0 is no limit.", what, dev(d.Major, d.Minor), t.v1File)
			if v == 2 {
				rate := strconv.FormatUint(d.Rate, 10)
				if d.Rate == 0 {
					rate = "max"
				}
				f.Name, f.Value = "io.max", fmt.Sprintf("%s %s=%s", dev(d.Major, d.Minor), t.v2Key, rate)
				f.Why = fmt.Sprintf("Throttle the container's %s a second on device %s (io.max %s): past it the kernel holds its I/O back.", what, dev(d.Major, d.Minor), t.v2Key)
			}
			add(f)
		}
	}
	return files, nil
}

// ioWeight maps a blkio weight (10 to 1000) onto v2's io.weight (1 to
// 10000), range onto range, as cpu.shares maps onto cpu.weight.
func ioWeight(w uint16) int { return 1 + (int(w)-minBlkioWeight)*9999/(maxBlkioWeight-minBlkioWeight) }

// isPageSize tells whether s is a huge page size as config.json and the
// kernel's hugetlb files write it, ^[1-9][0-9]*[KMG]B$: 2MB, 1GB, 64KB.
// Checked by hand: a regexp compiled at start-up cost each container's
// process (box-init links this package) a tenth of a millisecond.
func isPageSize(s string) bool {
	n := len(s)
	if n < 3 || s[0] < '1' || s[0] > '9' || s[n-1] != 'B' || !strings.ContainsRune("KMG", rune(s[n-2])) {
		return false
	}
	for _, c := range s[1 : n-2] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// hugepageFiles are the writes for linux.resources.hugepageLimits: one
// limit per huge page size, hugetlb.<size>.limit_in_bytes (v1) or
// hugetlb.<size>.max (v2).
func hugepageFiles(limits []oci.HugepageLimit, v int) ([]cgroups.File, error) {
	var files []cgroups.File
	for i, l := range limits {
		field := fmt.Sprintf("linux.resources.hugepageLimits[%d]", i)
		if !isPageSize(l.Pagesize) {
			return nil, fmt.Errorf("%s.pageSize %q is not a huge page size: write it as the kernel names them, like 2MB or 1GB", field, l.Pagesize)
		}
		name := "hugetlb." + l.Pagesize + ".limit_in_bytes"
		if v == 2 {
			name = "hugetlb." + l.Pagesize + ".max"
		}
		files = append(files, cgroups.File{Name: name, Value: strconv.FormatUint(l.Limit, 10), Field: field,
			Why: fmt.Sprintf("Limit the container's %s huge pages to %d bytes (%s): a process that faults in one more gets SIGBUS.", l.Pagesize, l.Limit, name)})
	}
	return files, nil
}

// networkFiles are the writes for linux.resources.network: net_cls's class
// id and net_prio's priority per interface. Both controllers are cgroup
// v1's alone: on v2 the field is refused.
func networkFiles(n *oci.Network, v int) ([]cgroups.File, error) {
	const field = "linux.resources.network"
	if n == nil || (n.ClassID == nil && len(n.Priorities) == 0) {
		return nil, nil
	}
	if v == 2 {
		return nil, fmt.Errorf("%s needs the net_cls and net_prio controllers, which exist in cgroup v1 only and this host has v2; leave it out (nftables matches a v2 cgroup's path instead)", field)
	}
	var prios []interfacePriority
	if err := decodeEntries(field+".priorities", n.Priorities, &prios); err != nil {
		return nil, err
	}
	var files []cgroups.File
	if n.ClassID != nil {
		files = append(files, cgroups.File{Name: "net_cls.classid", Value: strconv.FormatUint(uint64(*n.ClassID), 10), Field: field + ".classID",
			Why: fmt.Sprintf("Tag the container's packets with class id %#x (net_cls.classid, major:minor %x:%x), which tc filters and iptables' cgroup match can select.", *n.ClassID, *n.ClassID>>16, *n.ClassID&0xffff)})
	}
	for i, p := range prios {
		if p.Name == "" || strings.ContainsAny(p.Name, " \n/") {
			return nil, fmt.Errorf("%s.priorities[%d].name %q is not an interface name", field, i, p.Name)
		}
		files = append(files, cgroups.File{Name: "net_prio.ifpriomap", Value: fmt.Sprintf("%s %d", p.Name, p.Priority), Field: fmt.Sprintf("%s.priorities[%d]", field, i),
			Why: fmt.Sprintf("Give the container's packets on %s the priority %d (net_prio.ifpriomap), which the interface's queueing discipline reads.", p.Name, p.Priority)})
	}
	return files, nil
}
