package oci

// specjson.go reads config.json without encoding/json. box-runc create
// and the container's init each decode one config.json in a fresh
// process, where encoding/json first builds, by reflection, its tables of
// every field of every type of Spec (its decoder builds the encoders too):
// 1.1-1.2 ms cold on the bench machine against 0.03-0.05 ms warm, twice
// per container. decodeSpec reads the same JSON with internal/plainjson,
// by the fields' names; whatever it does not read as encoding/json would
// (a name in other letter case, which encoding/json matches; a name given
// twice, which it merges; a fraction; an opaque map) is ErrNotPlain, and
// Parse hands the bytes to json.Unmarshal, so the result is always its.
// specjson_test.go fills every field of Spec by reflection: a field added
// to spec.go and not read here fails it.

import (
	"strconv"

	"box/final/internal/plainjson"
)

// specDecoder reads config.json's JSON into a Spec.
type specDecoder struct{ *plainjson.Reader }

// decodeSpec reads b into s, or fails with plainjson.ErrNotPlain (or a
// syntax error) for the caller to give b to json.Unmarshal.
func decodeSpec(b []byte, s *Spec) error {
	d := specDecoder{plainjson.NewReader(b)}
	if d.Null() {
		return plainjson.ErrNotPlain // a Spec left alone: rare enough for encoding/json
	}
	if err := d.spec(s); err != nil {
		return err
	}
	return d.End()
}

// opaque is a field this reader leaves to encoding/json, unless null.
func (d specDecoder) opaque(out *[]Opaque) error {
	if d.Null() {
		*out = nil
		return nil
	}
	return plainjson.ErrNotPlain
}

// stringMap reads an object of strings into a map (null: nil).
func (d specDecoder) stringMap(out *map[string]string) error {
	if d.Null() {
		*out = nil
		return nil
	}
	m := map[string]string{}
	*out = m
	return d.Object(func(key string) error {
		var v string // null stores "", as encoding/json does
		err := d.String(&v)
		m[key] = v
		return err
	})
}

func (d specDecoder) i64(out *int64) error  { return d.Int(out, 64) }
func (d specDecoder) u64(out *uint64) error { return d.Uint(out, 64) }

func (d specDecoder) goInt(out *int) error {
	n := int64(*out)
	err := d.Int(&n, strconv.IntSize)
	*out = int(n)
	return err
}

func (d specDecoder) goUint(out *uint) error {
	n := uint64(*out)
	err := d.Uint(&n, strconv.IntSize)
	*out = uint(n)
	return err
}

func (d specDecoder) boolean(out *bool) error { return d.Bool(out) }

func (d specDecoder) spec(s *Spec) error {
	return d.Fields([]string{"ociVersion", "process", "root", "hostname", "domainname", "mounts", "hooks", "annotations", "linux"}, func(name string) error {
		switch name {
		case "ociVersion":
			return d.String(&s.Version)
		case "process":
			return plainjson.Pointer(d.Reader, &s.Process, d.process)
		case "root":
			return plainjson.Pointer(d.Reader, &s.Root, func(r *Root) error {
				return d.Fields([]string{"path", "readonly"}, func(name string) error {
					if name == "path" {
						return d.String(&r.Path)
					}
					return d.Bool(&r.Readonly)
				})
			})
		case "hostname":
			return d.String(&s.Hostname)
		case "domainname":
			return d.String(&s.Domainname)
		case "mounts":
			return plainjson.List(d.Reader, &s.Mounts, d.mount)
		case "hooks":
			return plainjson.Pointer(d.Reader, &s.Hooks, d.hooks)
		case "annotations":
			return d.stringMap(&s.Annotations)
		default: // "linux"
			return plainjson.Pointer(d.Reader, &s.Linux, d.linux)
		}
	})
}

func (d specDecoder) process(p *Process) error {
	return d.Fields([]string{"terminal", "consoleSize", "user", "args", "commandLine", "env", "cwd", "capabilities",
		"rlimits", "noNewPrivileges", "apparmorProfile", "oomScoreAdj", "selinuxLabel"}, func(name string) error {
		switch name {
		case "terminal":
			return d.Bool(&p.Terminal)
		case "consoleSize":
			return plainjson.Pointer(d.Reader, &p.ConsoleSize, func(b *Box) error {
				return d.Fields([]string{"height", "width"}, func(name string) error {
					if name == "height" {
						return d.goUint(&b.Height)
					}
					return d.goUint(&b.Width)
				})
			})
		case "user":
			return d.user(&p.User)
		case "args":
			return d.Strings(&p.Args)
		case "commandLine":
			return d.String(&p.CommandLine)
		case "env":
			return d.Strings(&p.Env)
		case "cwd":
			return d.String(&p.Cwd)
		case "capabilities":
			return plainjson.Pointer(d.Reader, &p.Capabilities, d.capabilities)
		case "rlimits":
			return plainjson.List(d.Reader, &p.Rlimits, func(r *Rlimit) error {
				return d.Fields([]string{"type", "hard", "soft"}, func(name string) error {
					switch name {
					case "type":
						return d.String(&r.Type)
					case "hard":
						return d.u64(&r.Hard)
					default:
						return d.u64(&r.Soft)
					}
				})
			})
		case "noNewPrivileges":
			return d.Bool(&p.NoNewPrivileges)
		case "apparmorProfile":
			return d.String(&p.ApparmorProfile)
		case "oomScoreAdj":
			return plainjson.Pointer(d.Reader, &p.OOMScoreAdj, d.goInt)
		default: // "selinuxLabel"
			return d.String(&p.SelinuxLabel)
		}
	})
}

func (d specDecoder) user(u *User) error {
	return d.Fields([]string{"uid", "gid", "umask", "additionalGids", "username"}, func(name string) error {
		switch name {
		case "uid":
			return d.Uint32(&u.UID)
		case "gid":
			return d.Uint32(&u.GID)
		case "umask":
			return plainjson.Pointer(d.Reader, &u.Umask, d.Uint32)
		case "additionalGids":
			return plainjson.List(d.Reader, &u.AdditionalGids, d.Uint32)
		default: // "username"
			return d.String(&u.Username)
		}
	})
}

func (d specDecoder) capabilities(c *Capabilities) error {
	return d.Fields([]string{"bounding", "effective", "inheritable", "permitted", "ambient"}, func(name string) error {
		switch name {
		case "bounding":
			return d.Strings(&c.Bounding)
		case "effective":
			return d.Strings(&c.Effective)
		case "inheritable":
			return d.Strings(&c.Inheritable)
		case "permitted":
			return d.Strings(&c.Permitted)
		default: // "ambient"
			return d.Strings(&c.Ambient)
		}
	})
}

func (d specDecoder) mount(m *Mount) error {
	return d.Fields([]string{"destination", "type", "source", "options", "uidMappings", "gidMappings"}, func(name string) error {
		switch name {
		case "destination":
			return d.String(&m.Destination)
		case "type":
			return d.String(&m.Type)
		case "source":
			return d.String(&m.Source)
		case "options":
			return d.Strings(&m.Options)
		case "uidMappings":
			return plainjson.List(d.Reader, &m.UIDMappings, d.idMapping)
		default: // "gidMappings"
			return plainjson.List(d.Reader, &m.GIDMappings, d.idMapping)
		}
	})
}

func (d specDecoder) idMapping(m *IDMapping) error {
	return d.Fields([]string{"containerID", "hostID", "size"}, func(name string) error {
		switch name {
		case "containerID":
			return d.Uint32(&m.ContainerID)
		case "hostID":
			return d.Uint32(&m.HostID)
		default: // "size"
			return d.Uint32(&m.Size)
		}
	})
}

func (d specDecoder) hooks(h *Hooks) error {
	return d.Fields([]string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}, func(name string) error {
		switch name {
		case "prestart":
			return plainjson.List(d.Reader, &h.Prestart, d.hook)
		case "createRuntime":
			return plainjson.List(d.Reader, &h.CreateRuntime, d.hook)
		case "createContainer":
			return plainjson.List(d.Reader, &h.CreateContainer, d.hook)
		case "startContainer":
			return plainjson.List(d.Reader, &h.StartContainer, d.hook)
		case "poststart":
			return plainjson.List(d.Reader, &h.Poststart, d.hook)
		default: // "poststop"
			return plainjson.List(d.Reader, &h.Poststop, d.hook)
		}
	})
}

func (d specDecoder) hook(h *Hook) error {
	return d.Fields([]string{"path", "args", "env", "timeout"}, func(name string) error {
		switch name {
		case "path":
			return d.String(&h.Path)
		case "args":
			return d.Strings(&h.Args)
		case "env":
			return d.Strings(&h.Env)
		default: // "timeout"
			return plainjson.Pointer(d.Reader, &h.Timeout, d.goInt)
		}
	})
}

func (d specDecoder) linux(l *Linux) error {
	return d.Fields([]string{"uidMappings", "gidMappings", "sysctl", "resources", "cgroupsPath", "namespaces", "devices",
		"seccomp", "rootfsPropagation", "maskedPaths", "readonlyPaths", "mountLabel", "personality"}, func(name string) error {
		switch name {
		case "uidMappings":
			return plainjson.List(d.Reader, &l.UIDMappings, d.idMapping)
		case "gidMappings":
			return plainjson.List(d.Reader, &l.GIDMappings, d.idMapping)
		case "sysctl":
			return d.stringMap(&l.Sysctl)
		case "resources":
			return plainjson.Pointer(d.Reader, &l.Resources, d.resources)
		case "cgroupsPath":
			return d.String(&l.CgroupsPath)
		case "namespaces":
			return plainjson.List(d.Reader, &l.Namespaces, func(n *Namespace) error {
				return d.Fields([]string{"type", "path"}, func(name string) error {
					if name == "type" {
						return d.String(&n.Type)
					}
					return d.String(&n.Path)
				})
			})
		case "devices":
			return plainjson.List(d.Reader, &l.Devices, d.device)
		case "seccomp":
			return plainjson.Pointer(d.Reader, &l.Seccomp, d.seccomp)
		case "rootfsPropagation":
			return d.String(&l.RootfsPropagation)
		case "maskedPaths":
			return d.Strings(&l.MaskedPaths)
		case "readonlyPaths":
			return d.Strings(&l.ReadonlyPaths)
		case "mountLabel":
			return d.String(&l.MountLabel)
		default: // "personality"
			return plainjson.Pointer(d.Reader, &l.Personality, func(p *Personality) error {
				return d.Fields([]string{"domain", "flags"}, func(name string) error {
					if name == "domain" {
						return d.String(&p.Domain)
					}
					return d.Strings(&p.Flags)
				})
			})
		}
	})
}

func (d specDecoder) device(v *Device) error {
	return d.Fields([]string{"type", "path", "major", "minor", "fileMode", "uid", "gid"}, func(name string) error {
		switch name {
		case "type":
			return d.String(&v.Type)
		case "path":
			return d.String(&v.Path)
		case "major":
			return d.i64(&v.Major)
		case "minor":
			return d.i64(&v.Minor)
		case "fileMode":
			return plainjson.Pointer(d.Reader, &v.FileMode, d.Uint32)
		case "uid":
			return plainjson.Pointer(d.Reader, &v.UID, d.Uint32)
		default: // "gid"
			return plainjson.Pointer(d.Reader, &v.GID, d.Uint32)
		}
	})
}

func (d specDecoder) resources(r *Resources) error {
	return d.Fields([]string{"devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "network", "unified"}, func(name string) error {
		switch name {
		case "devices":
			return plainjson.List(d.Reader, &r.Devices, func(c *DeviceCgroup) error {
				return d.Fields([]string{"allow", "type", "major", "minor", "access"}, func(name string) error {
					switch name {
					case "allow":
						return d.Bool(&c.Allow)
					case "type":
						return d.String(&c.Type)
					case "major":
						return plainjson.Pointer(d.Reader, &c.Major, d.i64)
					case "minor":
						return plainjson.Pointer(d.Reader, &c.Minor, d.i64)
					default: // "access"
						return d.String(&c.Access)
					}
				})
			})
		case "memory":
			return plainjson.Pointer(d.Reader, &r.Memory, d.memory)
		case "cpu":
			return plainjson.Pointer(d.Reader, &r.CPU, d.cpu)
		case "pids":
			return plainjson.Pointer(d.Reader, &r.Pids, func(p *Pids) error {
				return d.Fields([]string{"limit"}, func(string) error { return d.i64(&p.Limit) })
			})
		case "blockIO":
			return plainjson.Pointer(d.Reader, &r.BlockIO, d.blockIO)
		case "hugepageLimits":
			return plainjson.List(d.Reader, &r.HugepageLimits, func(h *HugepageLimit) error {
				return d.Fields([]string{"pageSize", "limit"}, func(name string) error {
					if name == "pageSize" {
						return d.String(&h.Pagesize)
					}
					return d.u64(&h.Limit)
				})
			})
		case "network":
			return plainjson.Pointer(d.Reader, &r.Network, func(n *Network) error {
				return d.Fields([]string{"classID", "priorities"}, func(name string) error {
					if name == "classID" {
						return plainjson.Pointer(d.Reader, &n.ClassID, d.Uint32)
					}
					return d.opaque(&n.Priorities)
				})
			})
		default: // "unified"
			return d.stringMap(&r.Unified)
		}
	})
}

func (d specDecoder) memory(m *Memory) error {
	return d.Fields([]string{"limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness", "disableOOMKiller"}, func(name string) error {
		switch name {
		case "limit":
			return plainjson.Pointer(d.Reader, &m.Limit, d.i64)
		case "reservation":
			return plainjson.Pointer(d.Reader, &m.Reservation, d.i64)
		case "swap":
			return plainjson.Pointer(d.Reader, &m.Swap, d.i64)
		case "kernel":
			return plainjson.Pointer(d.Reader, &m.Kernel, d.i64)
		case "kernelTCP":
			return plainjson.Pointer(d.Reader, &m.KernelTCP, d.i64)
		case "swappiness":
			return plainjson.Pointer(d.Reader, &m.Swappiness, d.u64)
		default: // "disableOOMKiller"
			return plainjson.Pointer(d.Reader, &m.DisableOOMKiller, d.boolean)
		}
	})
}

func (d specDecoder) cpu(c *CPU) error {
	return d.Fields([]string{"shares", "quota", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems", "idle"}, func(name string) error {
		switch name {
		case "shares":
			return plainjson.Pointer(d.Reader, &c.Shares, d.u64)
		case "quota":
			return plainjson.Pointer(d.Reader, &c.Quota, d.i64)
		case "period":
			return plainjson.Pointer(d.Reader, &c.Period, d.u64)
		case "realtimeRuntime":
			return plainjson.Pointer(d.Reader, &c.RealtimeRuntime, d.i64)
		case "realtimePeriod":
			return plainjson.Pointer(d.Reader, &c.RealtimePeriod, d.u64)
		case "cpus":
			return d.String(&c.Cpus)
		case "mems":
			return d.String(&c.Mems)
		default: // "idle"
			return plainjson.Pointer(d.Reader, &c.Idle, d.i64)
		}
	})
}

func (d specDecoder) blockIO(b *BlockIO) error {
	return d.Fields([]string{"weight", "leafWeight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
		"throttleReadIOPSDevice", "throttleWriteIOPSDevice"}, func(name string) error {
		switch name {
		case "weight":
			return plainjson.Pointer(d.Reader, &b.Weight, d.Uint16)
		case "leafWeight":
			return plainjson.Pointer(d.Reader, &b.LeafWeight, d.Uint16)
		case "weightDevice":
			return d.opaque(&b.WeightDevice)
		case "throttleReadBpsDevice":
			return plainjson.List(d.Reader, &b.ThrottleReadBpsDevice, d.throttle)
		case "throttleWriteBpsDevice":
			return plainjson.List(d.Reader, &b.ThrottleWriteBpsDevice, d.throttle)
		case "throttleReadIOPSDevice":
			return plainjson.List(d.Reader, &b.ThrottleReadIOPSDevice, d.throttle)
		default: // "throttleWriteIOPSDevice"
			return plainjson.List(d.Reader, &b.ThrottleWriteIOPSDevice, d.throttle)
		}
	})
}

func (d specDecoder) throttle(t *ThrottleDevice) error {
	return d.Fields([]string{"major", "minor", "rate"}, func(name string) error {
		switch name {
		case "major":
			return d.i64(&t.Major)
		case "minor":
			return d.i64(&t.Minor)
		default: // "rate"
			return d.u64(&t.Rate)
		}
	})
}

func (d specDecoder) seccomp(s *Seccomp) error {
	return d.Fields([]string{"defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath", "syscalls"}, func(name string) error {
		switch name {
		case "defaultAction":
			return d.String(&s.DefaultAction)
		case "defaultErrnoRet":
			return plainjson.Pointer(d.Reader, &s.DefaultErrnoRet, d.goUint)
		case "architectures":
			return d.Strings(&s.Architectures)
		case "flags":
			return d.Strings(&s.Flags)
		case "listenerPath":
			return d.String(&s.ListenerPath)
		default: // "syscalls"
			return plainjson.List(d.Reader, &s.Syscalls, d.syscall)
		}
	})
}

func (d specDecoder) syscall(c *Syscall) error {
	return d.Fields([]string{"names", "action", "errnoRet", "args"}, func(name string) error {
		switch name {
		case "names":
			return d.Strings(&c.Names)
		case "action":
			return d.String(&c.Action)
		case "errnoRet":
			return plainjson.Pointer(d.Reader, &c.ErrnoRet, d.goUint)
		default: // "args"
			return plainjson.List(d.Reader, &c.Args, func(a *SeccompArg) error {
				return d.Fields([]string{"index", "value", "valueTwo", "op"}, func(name string) error {
					switch name {
					case "index":
						return d.goUint(&a.Index)
					case "value":
						return d.u64(&a.Value)
					case "valueTwo":
						return d.u64(&a.ValueTwo)
					default: // "op"
						return d.String(&a.Op)
					}
				})
			})
		}
	})
}
