// Package state keeps what the runtime knows about its containers, so that
// commands run one after another (run, ps, exec, stop, rm) and commands run
// at the same time agree. Each container has a directory under the state
// root (/run/box/containers/ID by default: /run is a tmpfs, so a reboot,
// which ends every container, also forgets them) with state.json, its log,
// and lock files. Images live apart, under the store (/var/lib/box), which
// survives reboots.
package state

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Status is where a container is in its life.
type Status string

// The statuses, as docker names them.
const (
	Created Status = "created" // the directory exists; the process is being set up
	Running Status = "running"
	Paused  Status = "paused"
	Exited  Status = "exited"
	// Dead is not stored: a container is dead when its state says it runs
	// but its process is gone, as after the runtime was killed (see cleanup).
	Dead Status = "dead"
)

// Volume is a host path bind-mounted into the container.
type Volume struct {
	Host      string `json:"host"`
	Container string `json:"container"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// String is the volume as -v takes it.
func (v Volume) String() string {
	s := v.Host + ":" + v.Container
	if v.ReadOnly {
		s += ":ro"
	}
	return s
}

// IDMap is one range of a user namespace's uid_map and gid_map.
type IDMap struct {
	HostID uint32 `json:"hostId"`
	Size   uint32 `json:"size"`
}

// Contains tells whether host id is in the range.
func (m IDMap) Contains(id uint32) bool { return id >= m.HostID && id-m.HostID < m.Size }

// Config is what run was asked for. The runtime hands it to the container's
// init unchanged, and keeps it for ps and inspect.
type Config struct {
	Rootfs      string   `json:"rootfs"`
	Image       string   `json:"image,omitempty"`
	Layers      []string `json:"layers,omitempty"` // filled by the image store
	Command     []string `json:"command"`
	Env         []string `json:"env"`
	Workdir     string   `json:"workdir"`
	Hostname    string   `json:"hostname"`
	Volumes     []Volume `json:"volumes,omitempty"`
	ReadOnly    bool     `json:"readOnly,omitempty"`
	TTY         bool     `json:"tty,omitempty"`
	Interactive bool     `json:"interactive,omitempty"`
	NoInit      bool     `json:"noInit,omitempty"`
	// User is who the command runs as, USER[:GROUP] (--user, or the
	// image's USER); empty is root.
	User string `json:"user,omitempty"`
	// Unconfined is --security-opt seccomp=unconfined: no syscall filter.
	Unconfined bool `json:"seccompUnconfined,omitempty"`
	Detach     bool `json:"detach,omitempty"`
	AutoRemove bool `json:"autoRemove,omitempty"`
	// Namespaces are the kinds the container gets, by their /proc/PID/ns name.
	Namespaces []string `json:"namespaces"`
	// IDMap maps container uids and gids 0..Size-1 to host ids HostID..,
	// when the container has a user namespace.
	IDMap *IDMap `json:"idMap,omitempty"`
	// Limits are the resource limits, by cgroup file, set by the cgroup code.
	Limits map[string]string `json:"limits,omitempty"`
	// Network is the network mode, set by the network code ("none": lo only).
	Network string `json:"network,omitempty"`
	// Ports are the published ports, HOSTIP:HOSTPORT:CONTAINERPORT (-p).
	Ports []string `json:"ports,omitempty"`
	// Log caps a detached container's log (--log-opt); nil: no cap.
	Log *LogOptions `json:"log,omitempty"`
}

// Container is one container's state, stored as state.json.
type Container struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Config Config `json:"config"`
	Status Status `json:"status"`
	Pid    int    `json:"pid,omitempty"`
	// PidStart is the process's start time in clock ticks since boot
	// (field 22 of /proc/PID/stat): with the pid, it names the process
	// for good, as pids are reused.
	PidStart uint64 `json:"pidStart,omitempty"`
	// Supervisor is the pid of the process that waits for the container:
	// run in the foreground, the monitor for run -d.
	Supervisor int       `json:"supervisor,omitempty"`
	ExitCode   *int      `json:"exitCode,omitempty"`
	Error      string    `json:"error,omitempty"`
	Cgroup     string    `json:"cgroup,omitempty"` // set by the cgroup code
	Created    time.Time `json:"created"`
	Started    time.Time `json:"started,omitempty"`
	Finished   time.Time `json:"finished,omitempty"`
	dir        string
}

// Dir is the container's state directory.
func (c *Container) Dir() string { return c.dir }

// LogPath is where a detached container's output goes.
func (c *Container) LogPath() string { return c.dir + "/container.log" }

// ShortID is the first 12 characters of the ID, as docker shows it.
func (c *Container) ShortID() string {
	if len(c.ID) > 12 {
		return c.ID[:12]
	}
	return c.ID
}

// Live tells whether a container in status s has processes: running or
// paused.
func (s Status) Live() bool { return s == Running || s == Paused }

// CurrentStatus is the stored status, corrected by a look at the process:
// a container whose process is gone without its supervisor recording it is
// dead.
func (c *Container) CurrentStatus() Status {
	if c.Status.Live() && !c.Alive() {
		return Dead
	}
	if c.Status == Created && !Supervised(c.dir) {
		return Dead // its runtime died while setting it up
	}
	return c.Status
}

// Alive tells whether the container's process is still the one we started.
func (c *Container) Alive() bool {
	return c.Pid > 0 && processAlive(c.Pid, c.PidStart)
}

// processAlive tells whether pid exists and, if start is not 0, started at
// start, so a reused pid does not count. A zombie counts as gone.
func processAlive(pid int, start uint64) bool {
	st, err := ProcessStart(pid)
	if err != nil {
		return false
	}
	return start == 0 || st == start
}

// ProcessStart reads when pid started, in clock ticks since boot, from
// /proc/PID/stat (proc(5)); a zombie is reported as gone.
func ProcessStart(pid int) (uint64, error) {
	b, err := readFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// count fields after the last ")".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("process %d: malformed stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state), so field 22 (starttime) is fields[19].
	if len(fields) < 20 {
		return 0, fmt.Errorf("process %d: malformed stat", pid)
	}
	if fields[0] == "Z" || fields[0] == "X" {
		return 0, fmt.Errorf("process %d has exited", pid)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}
