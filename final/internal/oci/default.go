package oci

// DefaultSpec is the config.json that "spec" writes, like runc spec's: sh
// on a terminal in ./rootfs, every namespace but the user's, a small
// capability set, the usual mounts, kernel files masked. With rootless,
// a user namespace mapping the caller's ids to root, and no network or
// cgroup namespace of its own.
func DefaultSpec(rootless bool, uid, gid uint32) *Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	s := &Spec{
		Version: Version,
		Process: &Process{
			Terminal: true,
			Args:     []string{"sh"},
			Env:      []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Cwd:      "/",
			Capabilities: &Capabilities{Bounding: caps, Effective: caps, Permitted: caps,
				Ambient: caps},
			Rlimits:         []Rlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     &Root{Path: "rootfs", Readonly: true},
		Hostname: "box",
		Mounts: []Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &Linux{
			Resources: &Resources{Devices: []DeviceCgroup{{Allow: false, Access: "rwm"}}},
			Namespaces: []Namespace{{Type: "pid"}, {Type: "network"}, {Type: "ipc"}, {Type: "uts"},
				{Type: "mount"}, {Type: "cgroup"}},
			MaskedPaths: []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
				"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
				"/sys/firmware", "/proc/scsi"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	if rootless {
		s.Linux.Resources = nil
		s.Linux.Namespaces = []Namespace{{Type: "pid"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"}, {Type: "user"}}
		s.Linux.UIDMappings = []IDMapping{{ContainerID: 0, HostID: uid, Size: 1}}
		s.Linux.GIDMappings = []IDMapping{{ContainerID: 0, HostID: gid, Size: 1}}
		var mounts []Mount
		for _, m := range s.Mounts {
			switch m.Destination {
			case "/sys":
				// A new sysfs needs a network namespace of its own: bind the host's.
				m = Mount{Destination: "/sys", Type: "none", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
			case "/sys/fs/cgroup":
				continue
			case "/dev/pts":
				m.Options = []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}
			}
			mounts = append(mounts, m)
		}
		s.Mounts = mounts
	}
	return s
}

// Features is what the features command prints: what this runtime
// understands of config.json (runtime-spec features.md).
type Features struct {
	OCIVersionMin string            `json:"ociVersionMin"`
	OCIVersionMax string            `json:"ociVersionMax"`
	Hooks         []string          `json:"hooks"`
	MountOptions  []string          `json:"mountOptions"`
	Linux         FeaturesLinux     `json:"linux"`
	Annotations   map[string]string `json:"annotations"`
}

// FeaturesLinux is the Linux part of Features.
type FeaturesLinux struct {
	Namespaces   []string        `json:"namespaces"`
	Capabilities []string        `json:"capabilities"`
	Cgroup       map[string]bool `json:"cgroup"`
	Seccomp      FeaturesSeccomp `json:"seccomp"`
	Apparmor     map[string]bool `json:"apparmor"`
	Selinux      map[string]bool `json:"selinux"`
}

// FeaturesSeccomp is what the seccomp compiler supports.
type FeaturesSeccomp struct {
	Enabled   bool     `json:"enabled"`
	Actions   []string `json:"actions"`
	Operators []string `json:"operators"`
	Archs     []string `json:"archs"`
	Flags     []string `json:"knownFlags"`
}
