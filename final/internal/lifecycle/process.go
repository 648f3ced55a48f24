package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"box/final/internal/narrate"
	"box/final/internal/oci"
	"box/final/internal/security"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// rlimits are the resource limits by the spec's names.
var rlimits = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// capSets converts the spec's capability names into masks.
func capSets(c *oci.Capabilities) (sys.CapSets, error) {
	var s sys.CapSets
	if c == nil {
		return s, nil
	}
	for _, set := range []struct {
		names []string
		mask  *uint64
	}{{c.Bounding, &s.Bounding}, {c.Effective, &s.Effective}, {c.Permitted, &s.Permitted},
		{c.Inheritable, &s.Inheritable}, {c.Ambient, &s.Ambient}} {
		for _, name := range set.names {
			n := capNumber(name)
			if n < 0 {
				return s, fmt.Errorf("unknown capability %q, like CAP_CHOWN", name)
			}
			*set.mask |= 1 << uint(n)
		}
	}
	return s, nil
}

// capNumber is the number of a capability name, or -1.
func capNumber(name string) int {
	name = strings.ToUpper(name)
	if !strings.HasPrefix(name, "CAP_") {
		name = "CAP_" + name
	}
	for i, n := range sys.CapNames {
		if n == name {
			return i
		}
	}
	return -1
}

// personality converts the spec's execution domain.
func personality(p *oci.Personality) (uint64, error) {
	var v uint64
	switch p.Domain {
	case "LINUX":
		v = 0
	case "LINUX32":
		v = 8 // PER_LINUX32
	default:
		return 0, fmt.Errorf("personality domain %q: want LINUX or LINUX32", p.Domain)
	}
	if len(p.Flags) > 0 {
		return 0, fmt.Errorf("personality flags %v are not supported; leave them out", p.Flags)
	}
	return v, nil
}

// setProcessLimits applies what the process's spec asks of the process
// as a whole: oom_score_adj, rlimits, the execution domain.
func setProcessLimits(p *oci.Process, pers *oci.Personality) error {
	if p.OOMScoreAdj != nil {
		narrate.Explain(narrate.Process, "Set the OOM killer's preference for this process (oom_score_adj).")
		if err := sys.WriteFile("/proc/self/oom_score_adj", fmt.Sprint(*p.OOMScoreAdj)); err != nil {
			return err
		}
	}
	if len(p.Rlimits) > 0 {
		narrate.Explain(narrate.Process, "Set the resource limits (setrlimit): execve keeps them.")
	}
	for _, rl := range p.Rlimits {
		if setLast(rl) {
			continue
		}
		if err := sys.Setrlimit(rlimits[rl.Type], rl.Type, rl.Soft, rl.Hard); err != nil {
			return err
		}
	}
	if pers != nil {
		v, err := personality(pers)
		if err != nil {
			return err
		}
		if err := sys.Personality(v, pers.Domain); err != nil {
			return err
		}
	}
	return nil
}

// setLast says whether rl limits this process's memory, which Go's own
// runtime may then run short of (a 1 GiB RLIMIT_AS failed create now and
// then), and can be set without privilege (it lowers the hard limit): then
// setMemoryLimits sets it just before execve, after the work is done.
func setLast(rl oci.Rlimit) bool {
	if rl.Type != "RLIMIT_AS" && rl.Type != "RLIMIT_DATA" {
		return false
	}
	var now unix.Rlimit
	if err := unix.Getrlimit(rlimits[rl.Type], &now); err != nil {
		return false
	}
	return rl.Hard <= now.Max
}

// setMemoryLimits sets the limits setProcessLimits left for last.
func setMemoryLimits(p *oci.Process) error {
	explained := false
	for _, rl := range p.Rlimits {
		if !setLast(rl) {
			continue
		}
		if !explained {
			narrate.Explain(narrate.Process, "Set the memory limits last, just before execve: under them this Go program could run short itself.")
			explained = true
		}
		if err := sys.Setrlimit(rlimits[rl.Type], rl.Type, rl.Soft, rl.Hard); err != nil {
			return err
		}
	}
	return nil
}

// becomeUser drops to the process's capabilities and user, on the calling
// thread: the bounding set, then the ids (keeping the permitted set across
// the change from root), then the sets config.json lists, no_new_privs.
func becomeUser(p *oci.Process) error {
	caps, err := capSets(p.Capabilities)
	if err != nil {
		return err
	}
	last, err := sys.LastCap()
	if err != nil {
		return err
	}
	narrate.Explain(narrate.Security, "Drop what config.json leaves out of the bounding set: no execve can get it back.")
	if err := sys.DropBounding(caps.Bounding, last); err != nil {
		return err
	}
	u := p.User
	if u.UID != 0 || u.GID != 0 || len(u.AdditionalGids) > 0 {
		narrate.Explain(narrate.Security, "Become uid %d, gid %d, keeping the permitted capabilities across the change.", u.UID, u.GID)
		if err := sys.SetKeepCaps(true); err != nil {
			return err
		}
		if err := sys.SetCredentials(u.UID, u.GID, u.AdditionalGids); err != nil {
			return err
		}
		if err := sys.SetKeepCaps(false); err != nil {
			return err
		}
	} else if !sys.CredentialsAre(0, 0, nil) {
		// Already uid 0, gid 0 and no groups (the usual case): no
		// setgroups/setresgid/setresuid round on every thread.
		if err := sys.SetCredentials(0, 0, nil); err != nil {
			return err
		}
	}
	narrate.Explain(narrate.Security, "Set the effective, permitted, inheritable and ambient capabilities config.json lists.")
	if err := sys.SetCapSets(caps); err != nil {
		return err
	}
	if p.NoNewPrivileges {
		narrate.Explain(narrate.Security, "Set no_new_privs (process.noNewPrivileges): setuid bits and file capabilities grant nothing.")
		if err := sys.SetNoNewPrivsHere(); err != nil {
			return err
		}
	}
	return nil
}

// installSeccomp installs the spec's filter, if any.
func installSeccomp(s *oci.Seccomp) error {
	if s == nil {
		return nil
	}
	return security.InstallOCISeccomp(s)
}

// seccompFilter is config.json's filter compiled, ready to install. The
// init compiles it before it sets process.rlimits on itself: a low
// RLIMIT_AS leaves the Go runtime no address space to grow its heap into
// (the suite's process_rlimits gives 1 GiB), so the init allocates as
// little as it can after setrlimit.
type seccompFilter struct {
	spec      *oci.Seccomp
	prog      []unix.SockFilter
	flags     uintptr
	flagNames string
}

// compileSeccomp compiles s; nil (no filter) gives a nil filter.
func compileSeccomp(s *oci.Seccomp) (*seccompFilter, error) {
	if s == nil {
		return nil, nil
	}
	prog, flags, names, err := security.CompileSeccomp(s)
	if err != nil {
		return nil, err
	}
	return &seccompFilter{spec: s, prog: prog, flags: flags, flagNames: names}, nil
}

// install installs the filter on the calling thread; a nil one is none.
func (f *seccompFilter) install() error {
	if f == nil {
		return nil
	}
	narrate.Explain(narrate.Security, "Install config.json's syscall filter (seccomp): %d rules compiled to %d BPF instructions, default action %s.", len(f.spec.Syscalls), len(f.prog), f.spec.DefaultAction)
	return sys.SetSeccompFilterFlags(f.prog, f.flags, f.flagNames)
}

// lookPath finds the program as execve will, inside the container: a
// name without "/" in the process's PATH. Its errors are runc's, which
// engines read (podman: exit 127 for "not found", 126 for "permission
// denied").
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if err := executable(name); err != nil {
			return "", fmt.Errorf("exec: %q: %w", name, err)
		}
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	var denied error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		full := filepath.Join(dir, name)
		err := executable(full)
		if err == nil {
			return full, nil
		}
		if errors.Is(err, os.ErrPermission) && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", fmt.Errorf("exec: %q: %w", name, denied)
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
}

// executable checks that path is a file with an execute bit.
func executable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errors.New("stat " + path + ": no such file or directory")
		}
		return err
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("%s: permission denied", path)
	}
	return nil
}
