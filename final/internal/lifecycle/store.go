// Package lifecycle is an OCI container's life as the runtime
// specification tells it (runtime.md): create sets the container up from a
// bundle and leaves its process waiting just before it executes the
// user's program; start lets it go; state reports; kill signals; delete
// removes what create made. exec runs another process in it. This is what
// box-runc, the runc command line of box, calls.
//
// The container's process is the one engines get in the pid file:
// box-init ("box-init oci-init", box's small container-side program in
// final/cmd/box-init), which builds the container in its new namespaces
// with the runtime's packages (rootfs, security, cgroups, namespaces,
// sys), then blocks on the exec fifo and, when start opens it, executes
// the user's program in place. No box process stays between
// the engine (conmon, containerd's shim: both subreapers) and the program,
// and after start no runtime code with privileges is left in the
// container.
package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"box/final/internal/cgroups"
	"box/final/internal/oci"
	"box/final/internal/state"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// DefaultRoot is where containers' state lives unless --root says.
const DefaultRoot = "/run/box-runc"

// Runtime is the runtime's state directory, --root.
type Runtime struct {
	Root string

	// loaded is the record Load read last: a command reads it once, the
	// container's state written by create, which nothing changes after.
	loaded *Container
}

// Container is what the runtime keeps of one container, in
// ROOT/ID/state.json. It holds what the commands engines run on every
// container need (start, state, kill, delete), and not config.json, which
// create keeps beside it (configFile) for exec: start and delete then
// decode a small record, not every type of the runtime spec.
type Container struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Pid         int               `json:"pid"`
	PidStart    uint64            `json:"pidStart"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Cgroup      *cgroups.Cgroup   `json:"cgroup,omitempty"`
	// Spec is config.json: set by create, and by spec() once read. Not a
	// field of the JSON (Load reads one an older box-runc wrote there):
	// encoding/json builds an encoder for every type a field's type
	// holds, nil or not, and for the spec those are dozens.
	Spec *oci.Spec `json:"-"`
	// NoProcess: config.json has no process, so start fails.
	NoProcess bool `json:"noProcess,omitempty"`
	// Hooks are config.json's hooks, which start and delete run.
	Hooks *oci.Hooks `json:"hooks,omitempty"`
	// Namespaces are the container's namespaces by /proc/PID/ns name,
	// recorded at create, for exec to join.
	Namespaces []string `json:"namespaces"`
	// ExplainLog is the file create narrated into (--explain-log): the
	// container's later commands narrate there too, even when the engine
	// leaves the flag out (podman's cleanup runs delete without it).
	ExplainLog string `json:"explainLog,omitempty"`

	dir string
}

// Files in a container's directory.
const (
	stateFile  = "state.json"
	configFile = "config.json" // the bundle's, as create read it
	fifoFile   = "exec.fifo"   // exists from create until start
)

// ErrNotExist is the error for an unknown id; engines look for its text.
var ErrNotExist = errors.New("container does not exist")

// Load reads the container id's record.
func (r *Runtime) Load(id string) (*Container, error) {
	if err := oci.CheckID(id); err != nil {
		return nil, err
	}
	if c := r.loaded; c != nil && c.ID == id {
		return c, nil
	}
	dir := filepath.Join(r.Root, id)
	b, err := sys.ReadFileRaw(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("read the state of %s: %w", id, err)
	}
	var c Container
	if err := decodeRecord(b, &c); err != nil {
		return nil, fmt.Errorf("state of %s (%s): %w", id, filepath.Join(dir, stateFile), err)
	}
	c.dir = dir
	if bytes.Contains(b, []byte(`"spec":`)) {
		// A record with the whole spec in it, from an older box-runc.
		var old struct {
			Spec *oci.Spec `json:"spec"`
		}
		if err := json.Unmarshal(b, &old); err == nil && old.Spec != nil {
			c.Spec, c.NoProcess, c.Hooks = old.Spec, old.Spec.Process == nil, old.Spec.Hooks
		}
	}
	r.loaded = &c
	return &c, nil
}

// spec is the container's config.json, read from the copy create kept
// (configFile) the first time a command needs more of it than the record
// holds (exec), and checked and completed as create did (oci.Parse).
func (c *Container) spec() (*oci.Spec, error) {
	if c.Spec != nil {
		return c.Spec, nil
	}
	path := filepath.Join(c.dir, configFile)
	b, err := sys.ReadFileRaw(path)
	if err != nil {
		return nil, fmt.Errorf("read the container's config: %w", err)
	}
	spec, err := oci.Parse(path, b)
	if err != nil {
		return nil, err
	}
	c.Spec = spec
	return spec, nil
}

// sharesMounts tells whether the container has no mount namespace of its
// own, so its root's mounts are in the caller's.
func (c *Container) sharesMounts() bool {
	if c.Spec != nil {
		return c.Spec.Linux != nil && !hasNamespace(c.Spec, "mount")
	}
	return c.Namespaces != nil && !containsString(c.Namespaces, "mnt")
}

// List reads every container's record.
func (r *Runtime) List() ([]*Container, error) {
	entries, err := os.ReadDir(r.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", r.Root, err)
	}
	var out []*Container
	for _, e := range entries {
		if c, err := r.Load(e.Name()); err == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// writeRecord writes the record beside its place (state.json.tmp), and
// publishRecord renames it into place: a reader sees no record or a whole
// one, and create can write it while the container's process works and
// publish it only once that process is ready, so a container that has a
// record has been created. config.json is not in it (see Container).
func (c *Container) writeRecord() error {
	b, err := encodeRecord(c)
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(c.dir, stateFile+".tmp"), b, 0o600)
}

func (c *Container) publishRecord() error {
	return os.Rename(filepath.Join(c.dir, stateFile+".tmp"), filepath.Join(c.dir, stateFile))
}

// writeFile creates or truncates path and writes data, as os.WriteFile
// does, in plain open, write and close calls: os.WriteFile also offers the
// descriptor to Go's poller (fcntl pairs and an epoll_ctl a regular file
// refuses), and the first such file makes the poller's epoll instance.
// The state's files are ours and not narrated, as before.
func writeFile(path string, data []byte, perm uint32) error {
	fd, err := sys.OpenRaw(path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	for len(data) > 0 && err == nil {
		var n int
		if n, err = unix.Write(fd, data); err == nil {
			data = data[n:]
		} else if err == unix.EINTR {
			err = nil
		}
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Dir is the container's state directory.
func (c *Container) Dir() string { return c.dir }

// Status is the container's status, from the kernel: stopped once its
// process is gone (or a zombie), created while it waits at the exec fifo,
// paused while its cgroup is frozen, running otherwise.
func (c *Container) Status() string {
	if !c.alive() {
		return "stopped"
	}
	if _, err := os.Lstat(filepath.Join(c.dir, fifoFile)); err == nil {
		return "created"
	}
	if c.frozen() {
		return "paused"
	}
	return "running"
}

// alive tells whether the container's process is still the one created.
func (c *Container) alive() bool {
	if c.Pid <= 0 {
		return false
	}
	start, err := state.ProcessStart(c.Pid)
	return err == nil && start == c.PidStart
}

// frozen tells whether the freezer holds the container's cgroup.
func (c *Container) frozen() bool {
	if c.Cgroup == nil {
		return false
	}
	for _, d := range c.Cgroup.Dirs {
		if c.Cgroup.Version == 2 {
			b, err := sys.ReadFileRaw(filepath.Join(d.Path, "cgroup.freeze"))
			return err == nil && strings.TrimSpace(string(b)) == "1"
		}
		if b, err := sys.ReadFileRaw(filepath.Join(d.Path, "freezer.state")); err == nil {
			return strings.TrimSpace(string(b)) != "THAWED"
		}
	}
	return false
}

// State is the container's state as the specification writes it.
func (c *Container) State() oci.State {
	s := oci.State{Version: oci.Version, ID: c.ID, Status: c.Status(), Bundle: c.Bundle,
		Annotations: c.Annotations, Rootfs: c.Rootfs, Created: c.Created.Format(time.RFC3339Nano), Owner: ""}
	if s.Status != "stopped" {
		s.Pid = c.Pid
	}
	return s
}
