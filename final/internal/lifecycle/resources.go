package lifecycle

import (
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
