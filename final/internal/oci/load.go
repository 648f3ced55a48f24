package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"box/final/internal/plainjson"
)

// ConfigName is the file that describes a bundle.
const ConfigName = "config.json"

// validID tells the container ids runc accepts, letters, digits and _ + - .
// (they name a directory, so no slash; "." and ".." are refused apart).
// Checked by hand, not by a regexp compiled at every start of box.
func validID(id string) bool {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_+-.", c) >= 0) {
			return false
		}
	}
	return id != ""
}

// CheckID fails for an id that cannot name a container.
func CheckID(id string) error {
	if id == "" {
		return errors.New("container id cannot be empty; give one, like: create --bundle DIR mycontainer")
	}
	if !validID(id) || id == "." || id == ".." || len(id) > 1024 {
		return fmt.Errorf("invalid container id %q: use letters, digits and _ + - . only (no slashes)", id)
	}
	return nil
}

// Load reads bundle/config.json and checks what the runtime needs of it:
// a supported version, a root directory that exists, and a process that
// makes sense if there is one. The spec lets create build a container
// without a process; only start then fails (lifecycle.Start).
// Errors are one line naming the file and the fix.
func Load(bundle string) (*Spec, error) {
	s, _, err := Read(bundle)
	return s, err
}

// Read is Load, and returns config.json's content too.
func Read(bundle string) (*Spec, []byte, error) {
	path := filepath.Join(bundle, ConfigName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("bundle %s has no %s: make one with \"spec\" in that directory", bundle, ConfigName)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	s, err := Parse(path, b)
	return s, b, err
}

// unmarshalSpec is json.Unmarshal(b, s), read by hand when it can be
// (specjson.go).
func unmarshalSpec(b []byte, s *Spec) error {
	return plainjson.Unmarshal(b, s, decodeSpec)
}

// Parse decodes and checks config.json's content b, read from path.
func Parse(path string, b []byte) (*Spec, error) {
	var s Spec
	if err := unmarshalSpec(b, &s); err != nil {
		return nil, fmt.Errorf("%s is not a valid config: %s", path, jsonError(b, err))
	}
	if err := CheckVersion(s.Version); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Root == nil || s.Root.Path == "" {
		return nil, fmt.Errorf("%s has no root.path: name the root filesystem directory, like \"root\": {\"path\": \"rootfs\"}", path)
	}
	if s.Process != nil {
		if err := checkProcess(s.Process); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if s.Linux == nil {
		s.Linux = &Linux{}
	}
	for _, ns := range s.Linux.Namespaces {
		if _, ok := NamespaceKinds[ns.Type]; !ok {
			return nil, fmt.Errorf("%s: unknown namespace type %q: want one of pid, network, mount, ipc, uts, user, cgroup, time", path, ns.Type)
		}
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return nil, fmt.Errorf("%s: mount destination %q must be absolute, like /data", path, m.Destination)
		}
	}
	return &s, nil
}

// checkProcess checks what every process needs, for create and exec.
func checkProcess(p *Process) error {
	if len(p.Args) == 0 || p.Args[0] == "" {
		return errors.New("process.args is empty: give the command, like \"args\": [\"sh\"]")
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("process.cwd %q must be an absolute path, like /", p.Cwd)
	}
	if p.ApparmorProfile != "" {
		if _, err := os.Stat("/sys/kernel/security/apparmor"); err != nil {
			return fmt.Errorf("process.apparmorProfile %q: this host has no AppArmor; leave it out", p.ApparmorProfile)
		}
	}
	if p.SelinuxLabel != "" {
		if _, err := os.Stat("/sys/fs/selinux/enforce"); err != nil {
			return fmt.Errorf("process.selinuxLabel %q: this host has no SELinux; leave it out", p.SelinuxLabel)
		}
	}
	return nil
}

// ParseProcess decodes a process.json for exec --process.
func ParseProcess(path string, b []byte) (*Process, error) {
	var p Process
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s is not a valid process: %s", path, jsonError(b, err))
	}
	if err := checkProcess(&p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &p, nil
}

// CheckVersion accepts runtime-spec 1.x, which this runtime reads; a
// later major version may mean something else by the same fields.
func CheckVersion(v string) error {
	if v == "" {
		return errors.New("ociVersion is missing: add \"ociVersion\": \"" + Version + "\"")
	}
	major, _, _ := strings.Cut(v, ".")
	if n, err := strconv.Atoi(major); err != nil || n != 1 {
		return fmt.Errorf("ociVersion %q is not supported: this runtime reads runtime-spec 1.0.0 to 1.2.x", v)
	}
	return nil
}

// jsonError says where in b decoding failed, and what was expected.
func jsonError(b []byte, err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %s must be %s, not a JSON %s", typeErr.Field, kindName(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		line := 1 + strings.Count(string(b[:min(int(syntaxErr.Offset), len(b))]), "\n")
		return fmt.Sprintf("line %d: %v", line, err)
	}
	return err.Error()
}

// kindName says a Go kind as a JSON type.
func kindName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return "a number"
}

// NamespaceKinds maps the spec's namespace types to /proc/PID/ns names.
var NamespaceKinds = map[string]string{
	"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc",
	"uts": "uts", "user": "user", "cgroup": "cgroup", "time": "time",
}
