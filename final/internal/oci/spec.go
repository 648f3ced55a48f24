// Package oci reads and writes what the OCI runtime specification defines:
// a bundle's config.json (Spec), the State a runtime reports, and the
// documents runc's command line prints (features, a default spec). The
// types are written here from the specification's text (runtime-spec
// config.md, config-linux.md, runtime.md), for versions 1.0.0 to 1.2.x,
// keeping only what this runtime reads; a field it does not know is left
// out and ignored, as the specification asks.
package oci

// Spec is a bundle's config.json.
type Spec struct {
	Version     string            `json:"ociVersion"`
	Process     *Process          `json:"process,omitempty"`
	Root        *Root             `json:"root,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	Domainname  string            `json:"domainname,omitempty"`
	Mounts      []Mount           `json:"mounts,omitempty"`
	Hooks       *Hooks            `json:"hooks,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Linux       *Linux            `json:"linux,omitempty"`
}

// Process is what to run in the container, and as whom.
type Process struct {
	Terminal        bool          `json:"terminal,omitempty"`
	ConsoleSize     *Box          `json:"consoleSize,omitempty"`
	User            User          `json:"user"`
	Args            []string      `json:"args,omitempty"`
	CommandLine     string        `json:"commandLine,omitempty"`
	Env             []string      `json:"env,omitempty"`
	Cwd             string        `json:"cwd"`
	Capabilities    *Capabilities `json:"capabilities,omitempty"`
	Rlimits         []Rlimit      `json:"rlimits,omitempty"`
	NoNewPrivileges bool          `json:"noNewPrivileges,omitempty"`
	ApparmorProfile string        `json:"apparmorProfile,omitempty"`
	OOMScoreAdj     *int          `json:"oomScoreAdj,omitempty"`
	SelinuxLabel    string        `json:"selinuxLabel,omitempty"`
}

// Box is a terminal's size.
type Box struct {
	Height uint `json:"height"`
	Width  uint `json:"width"`
}

// User is who the process runs as, by number.
type User struct {
	UID            uint32   `json:"uid"`
	GID            uint32   `json:"gid"`
	Umask          *uint32  `json:"umask,omitempty"`
	AdditionalGids []uint32 `json:"additionalGids,omitempty"`
	Username       string   `json:"username,omitempty"`
}

// Capabilities are the five capability sets, by name (CAP_CHOWN, ...).
type Capabilities struct {
	Bounding    []string `json:"bounding,omitempty"`
	Effective   []string `json:"effective,omitempty"`
	Inheritable []string `json:"inheritable,omitempty"`
	Permitted   []string `json:"permitted,omitempty"`
	Ambient     []string `json:"ambient,omitempty"`
}

// Rlimit is one resource limit (setrlimit(2)), like RLIMIT_NOFILE.
type Rlimit struct {
	Type string `json:"type"`
	Hard uint64 `json:"hard"`
	Soft uint64 `json:"soft"`
}

// Root is the container's root filesystem, relative to the bundle or
// absolute.
type Root struct {
	Path     string `json:"path"`
	Readonly bool   `json:"readonly,omitempty"`
}

// Mount is one mount, in the order given.
type Mount struct {
	Destination string      `json:"destination"`
	Type        string      `json:"type,omitempty"`
	Source      string      `json:"source,omitempty"`
	Options     []string    `json:"options,omitempty"`
	UIDMappings []IDMapping `json:"uidMappings,omitempty"`
	GIDMappings []IDMapping `json:"gidMappings,omitempty"`
}

// Hook is one program to run at a point of the lifecycle.
type Hook struct {
	Path    string   `json:"path"`
	Args    []string `json:"args,omitempty"`
	Env     []string `json:"env,omitempty"`
	Timeout *int     `json:"timeout,omitempty"` // seconds
}

// Hooks are the programs to run, by lifecycle point. Prestart is the
// deprecated name of what createRuntime does now.
type Hooks struct {
	Prestart        []Hook `json:"prestart,omitempty"`
	CreateRuntime   []Hook `json:"createRuntime,omitempty"`
	CreateContainer []Hook `json:"createContainer,omitempty"`
	StartContainer  []Hook `json:"startContainer,omitempty"`
	Poststart       []Hook `json:"poststart,omitempty"`
	Poststop        []Hook `json:"poststop,omitempty"`
}

// Linux is the Linux-specific part.
type Linux struct {
	UIDMappings       []IDMapping       `json:"uidMappings,omitempty"`
	GIDMappings       []IDMapping       `json:"gidMappings,omitempty"`
	Sysctl            map[string]string `json:"sysctl,omitempty"`
	Resources         *Resources        `json:"resources,omitempty"`
	CgroupsPath       string            `json:"cgroupsPath,omitempty"`
	Namespaces        []Namespace       `json:"namespaces,omitempty"`
	Devices           []Device          `json:"devices,omitempty"`
	Seccomp           *Seccomp          `json:"seccomp,omitempty"`
	RootfsPropagation string            `json:"rootfsPropagation,omitempty"`
	MaskedPaths       []string          `json:"maskedPaths,omitempty"`
	ReadonlyPaths     []string          `json:"readonlyPaths,omitempty"`
	MountLabel        string            `json:"mountLabel,omitempty"`
	Personality       *Personality      `json:"personality,omitempty"`
}

// IDMapping maps Size ids from ContainerID on to HostID.
type IDMapping struct {
	ContainerID uint32 `json:"containerID"`
	HostID      uint32 `json:"hostID"`
	Size        uint32 `json:"size"`
}

// Namespace is one namespace: a new one, or with Path the one to join.
type Namespace struct {
	Type string `json:"type"`
	Path string `json:"path,omitempty"`
}

// Device is a device node to make in the container's /dev.
type Device struct {
	Type     string  `json:"type"`
	Path     string  `json:"path"`
	Major    int64   `json:"major"`
	Minor    int64   `json:"minor"`
	FileMode *uint32 `json:"fileMode,omitempty"`
	UID      *uint32 `json:"uid,omitempty"`
	GID      *uint32 `json:"gid,omitempty"`
}

// Resources are the cgroup limits.
type Resources struct {
	Devices        []DeviceCgroup    `json:"devices,omitempty"`
	Memory         *Memory           `json:"memory,omitempty"`
	CPU            *CPU              `json:"cpu,omitempty"`
	Pids           *Pids             `json:"pids,omitempty"`
	BlockIO        *BlockIO          `json:"blockIO,omitempty"`
	HugepageLimits []HugepageLimit   `json:"hugepageLimits,omitempty"`
	Network        *Network          `json:"network,omitempty"`
	Unified        map[string]string `json:"unified,omitempty"`
}

// DeviceCgroup is one rule of the device allowlist.
type DeviceCgroup struct {
	Allow  bool   `json:"allow"`
	Type   string `json:"type,omitempty"`
	Major  *int64 `json:"major,omitempty"`
	Minor  *int64 `json:"minor,omitempty"`
	Access string `json:"access,omitempty"`
}

// Memory limits, in bytes; -1 is no limit.
type Memory struct {
	Limit            *int64  `json:"limit,omitempty"`
	Reservation      *int64  `json:"reservation,omitempty"`
	Swap             *int64  `json:"swap,omitempty"`
	Kernel           *int64  `json:"kernel,omitempty"`
	KernelTCP        *int64  `json:"kernelTCP,omitempty"`
	Swappiness       *uint64 `json:"swappiness,omitempty"`
	DisableOOMKiller *bool   `json:"disableOOMKiller,omitempty"`
}

// CPU is CPU time: shares (v1's weight), a quota per period, cpusets.
type CPU struct {
	Shares          *uint64 `json:"shares,omitempty"`
	Quota           *int64  `json:"quota,omitempty"`
	Period          *uint64 `json:"period,omitempty"`
	RealtimeRuntime *int64  `json:"realtimeRuntime,omitempty"`
	RealtimePeriod  *uint64 `json:"realtimePeriod,omitempty"`
	Cpus            string  `json:"cpus,omitempty"`
	Mems            string  `json:"mems,omitempty"`
	Idle            *int64  `json:"idle,omitempty"`
}

// Pids limits the number of tasks.
type Pids struct {
	Limit int64 `json:"limit"`
}

// BlockIO weights and throttles block devices.
type BlockIO struct {
	Weight                  *uint16          `json:"weight,omitempty"`
	LeafWeight              *uint16          `json:"leafWeight,omitempty"`
	WeightDevice            []Opaque         `json:"weightDevice,omitempty"`
	ThrottleReadBpsDevice   []ThrottleDevice `json:"throttleReadBpsDevice,omitempty"`
	ThrottleWriteBpsDevice  []ThrottleDevice `json:"throttleWriteBpsDevice,omitempty"`
	ThrottleReadIOPSDevice  []ThrottleDevice `json:"throttleReadIOPSDevice,omitempty"`
	ThrottleWriteIOPSDevice []ThrottleDevice `json:"throttleWriteIOPSDevice,omitempty"`
}

// Opaque is a part this runtime reads past.
type Opaque = map[string]any

// ThrottleDevice is a rate for one block device.
type ThrottleDevice struct {
	Major int64  `json:"major"`
	Minor int64  `json:"minor"`
	Rate  uint64 `json:"rate"`
}

// HugepageLimit limits one huge page size.
type HugepageLimit struct {
	Pagesize string `json:"pageSize"`
	Limit    uint64 `json:"limit"`
}

// Network sets net_cls and net_prio.
type Network struct {
	ClassID    *uint32  `json:"classID,omitempty"`
	Priorities []Opaque `json:"priorities,omitempty"`
}

// Seccomp is a syscall filter, as the OCI schema writes it.
type Seccomp struct {
	DefaultAction   string    `json:"defaultAction"`
	DefaultErrnoRet *uint     `json:"defaultErrnoRet,omitempty"`
	Architectures   []string  `json:"architectures,omitempty"`
	Flags           []string  `json:"flags,omitempty"`
	ListenerPath    string    `json:"listenerPath,omitempty"`
	Syscalls        []Syscall `json:"syscalls,omitempty"`
}

// Syscall is one rule: calls by name, an action, argument conditions.
type Syscall struct {
	Names    []string     `json:"names"`
	Action   string       `json:"action"`
	ErrnoRet *uint        `json:"errnoRet,omitempty"`
	Args     []SeccompArg `json:"args,omitempty"`
}

// SeccompArg compares one argument of a call.
type SeccompArg struct {
	Index    uint   `json:"index"`
	Value    uint64 `json:"value"`
	ValueTwo uint64 `json:"valueTwo,omitempty"`
	Op       string `json:"op"`
}

// Personality is the execution domain (personality(2)).
type Personality struct {
	Domain string   `json:"domain"`
	Flags  []string `json:"flags,omitempty"`
}

// State is what the state command prints (runtime.md, "State").
type State struct {
	Version     string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Pid         int               `json:"pid"`
	Bundle      string            `json:"bundle"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// runc adds these; engines read created.
	Rootfs  string `json:"rootfs,omitempty"`
	Created string `json:"created,omitempty"`
	Owner   string `json:"owner"`
}

// Version is the specification version this runtime writes.
const Version = "1.2.0"
