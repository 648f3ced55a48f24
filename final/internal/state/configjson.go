package state

// configjson.go writes and reads a Config, and the state.json it is in,
// without encoding/json. Every box run writes a container's state twice,
// reads it once, and sends its Config to the init (runinit's spec), in a
// process that lives a few milliseconds: encoding/json's first use of a
// type builds its tables of every field by reflection, which was the
// larger part of box run's JSON work. What is written is json.Marshal's
// (json.MarshalIndent's for state.json) byte for byte; what is read is
// json.Unmarshal's, and anything the hand-written reader does not read as
// that would (internal/plainjson) goes to encoding/json.

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"box/final/internal/plainjson"
)

// AppendConfig appends c as encoding/json writes a Config: its
// fields in order, omitempty ones left out when empty, map keys sorted.
func AppendConfig(b []byte, c *Config) []byte {
	str := func(name, v string, omitEmpty bool) {
		if omitEmpty && v == "" {
			return
		}
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		b = plainjson.AppendString(b, v)
	}
	list := func(name string, v []string, omitEmpty bool) {
		if omitEmpty && len(v) == 0 {
			return
		}
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		b = plainjson.AppendStrings(b, v)
	}
	flag := func(name string, v bool) { // every bool of Config is omitempty
		if v {
			b = append(b, ',', '"')
			b = append(b, name...)
			b = append(b, `":true`...)
		}
	}
	b = append(b, `{"rootfs":`...)
	b = plainjson.AppendString(b, c.Rootfs)
	str("image", c.Image, true)
	list("layers", c.Layers, true)
	list("command", c.Command, false)
	list("env", c.Env, false)
	str("workdir", c.Workdir, false)
	str("hostname", c.Hostname, false)
	if len(c.Volumes) > 0 {
		b = append(b, `,"volumes":[`...)
		for i, v := range c.Volumes {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"host":`...)
			b = plainjson.AppendString(b, v.Host)
			b = append(b, `,"container":`...)
			b = plainjson.AppendString(b, v.Container)
			flag("readOnly", v.ReadOnly)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	flag("readOnly", c.ReadOnly)
	flag("tty", c.TTY)
	flag("interactive", c.Interactive)
	flag("noInit", c.NoInit)
	str("user", c.User, true)
	flag("seccompUnconfined", c.Unconfined)
	flag("detach", c.Detach)
	flag("autoRemove", c.AutoRemove)
	list("namespaces", c.Namespaces, false)
	if m := c.IDMap; m != nil {
		b = append(b, `,"idMap":{"hostId":`...)
		b = strconv.AppendUint(b, uint64(m.HostID), 10)
		b = append(b, `,"size":`...)
		b = strconv.AppendUint(b, uint64(m.Size), 10)
		b = append(b, '}')
	}
	if len(c.Limits) > 0 {
		b = append(b, `,"limits":{`...)
		keys := make([]string, 0, len(c.Limits))
		for k := range c.Limits {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = plainjson.AppendString(b, k)
			b = append(b, ':')
			b = plainjson.AppendString(b, c.Limits[k])
		}
		b = append(b, '}')
	}
	str("network", c.Network, true)
	list("ports", c.Ports, true)
	if l := c.Log; l != nil {
		b = append(b, `,"log":{`...)
		sep := ""
		if l.MaxSize != 0 {
			b = append(b, `"maxSize":`...)
			b = strconv.AppendInt(b, l.MaxSize, 10)
			sep = ","
		}
		if l.MaxFiles != 0 {
			b = append(b, sep...)
			b = append(b, `"maxFiles":`...)
			b = strconv.AppendInt(b, int64(l.MaxFiles), 10)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// PlainStrings tells whether every string of c is valid UTF-8, which
// encoding/json would otherwise rewrite.
func (c *Config) PlainStrings() bool {
	ok := true
	for _, s := range []string{c.Rootfs, c.Image, c.Workdir, c.Hostname, c.User, c.Network} {
		ok = ok && utf8.ValidString(s)
	}
	for _, l := range [][]string{c.Layers, c.Command, c.Env, c.Namespaces, c.Ports} {
		for _, s := range l {
			ok = ok && utf8.ValidString(s)
		}
	}
	for _, v := range c.Volumes {
		ok = ok && utf8.ValidString(v.Host) && utf8.ValidString(v.Container)
	}
	for k, v := range c.Limits {
		ok = ok && utf8.ValidString(k) && utf8.ValidString(v)
	}
	return ok
}

// ReadConfig reads a Config as encoding/json reads one from what
// AppendConfig writes, skipping names it does not know.
func ReadConfig(d *plainjson.Reader, c *Config) error {
	return d.Object(func(key string) error {
		switch key {
		case "rootfs":
			return d.String(&c.Rootfs)
		case "image":
			return d.String(&c.Image)
		case "layers":
			return d.Strings(&c.Layers)
		case "command":
			return d.Strings(&c.Command)
		case "env":
			return d.Strings(&c.Env)
		case "workdir":
			return d.String(&c.Workdir)
		case "hostname":
			return d.String(&c.Hostname)
		case "volumes":
			if d.Null() {
				c.Volumes = nil
				return nil
			}
			c.Volumes = []Volume{}
			return d.Array(func() error {
				var v Volume
				err := d.Object(func(key string) error {
					switch key {
					case "host":
						return d.String(&v.Host)
					case "container":
						return d.String(&v.Container)
					case "readOnly":
						return d.Bool(&v.ReadOnly)
					}
					return d.Skip()
				})
				c.Volumes = append(c.Volumes, v)
				return err
			})
		case "readOnly":
			return d.Bool(&c.ReadOnly)
		case "tty":
			return d.Bool(&c.TTY)
		case "interactive":
			return d.Bool(&c.Interactive)
		case "noInit":
			return d.Bool(&c.NoInit)
		case "user":
			return d.String(&c.User)
		case "seccompUnconfined":
			return d.Bool(&c.Unconfined)
		case "detach":
			return d.Bool(&c.Detach)
		case "autoRemove":
			return d.Bool(&c.AutoRemove)
		case "namespaces":
			return d.Strings(&c.Namespaces)
		case "idMap":
			return plainjson.Pointer(d, &c.IDMap, func(m *IDMap) error {
				return d.Object(func(key string) error {
					switch key {
					case "hostId":
						return d.Uint32(&m.HostID)
					case "size":
						return d.Uint32(&m.Size)
					}
					return d.Skip()
				})
			})
		case "limits":
			if d.Null() {
				c.Limits = nil
				return nil
			}
			c.Limits = map[string]string{}
			return d.Object(func(key string) error {
				var v string
				err := d.String(&v)
				c.Limits[key] = v
				return err
			})
		case "network":
			return d.String(&c.Network)
		case "ports":
			return d.Strings(&c.Ports)
		case "log":
			return plainjson.Pointer(d, &c.Log, func(l *LogOptions) error {
				return d.Object(func(key string) error {
					switch key {
					case "maxSize":
						return d.Int(&l.MaxSize, 64)
					case "maxFiles":
						return readInt(d, &l.MaxFiles)
					}
					return d.Skip()
				})
			})
		}
		return d.Skip()
	})
}

// encodeContainer is json.MarshalIndent(c, "", "  "): by hand, then
// indented by json.Indent, which scans bytes and reflects on nothing.
func encodeContainer(c *Container) ([]byte, error) {
	if !c.plainStrings() {
		return json.MarshalIndent(c, "", "  ")
	}
	b := make([]byte, 0, 1024)
	b = append(b, `{"id":`...)
	b = plainjson.AppendString(b, c.ID)
	b = append(b, `,"name":`...)
	b = plainjson.AppendString(b, c.Name)
	b = append(b, `,"config":`...)
	b = AppendConfig(b, &c.Config)
	b = append(b, `,"status":`...)
	b = plainjson.AppendString(b, string(c.Status))
	if c.Pid != 0 {
		b = append(b, `,"pid":`...)
		b = strconv.AppendInt(b, int64(c.Pid), 10)
	}
	if c.PidStart != 0 {
		b = append(b, `,"pidStart":`...)
		b = strconv.AppendUint(b, c.PidStart, 10)
	}
	if c.Supervisor != 0 {
		b = append(b, `,"supervisor":`...)
		b = strconv.AppendInt(b, int64(c.Supervisor), 10)
	}
	if c.ExitCode != nil {
		b = append(b, `,"exitCode":`...)
		b = strconv.AppendInt(b, int64(*c.ExitCode), 10)
	}
	if c.Error != "" {
		b = append(b, `,"error":`...)
		b = plainjson.AppendString(b, c.Error)
	}
	if c.Cgroup != "" {
		b = append(b, `,"cgroup":`...)
		b = plainjson.AppendString(b, c.Cgroup)
	}
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"created", c.Created}, {"started", c.Started}, {"finished", c.Finished}} {
		text, err := t.at.MarshalJSON() // a method: no reflection
		if err != nil {
			return json.MarshalIndent(c, "", "  ") // and its error
		}
		b = append(b, `,"`...)
		b = append(b, t.name...)
		b = append(b, `":`...)
		b = append(b, text...)
	}
	b = append(b, '}')
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// plainStrings tells whether every string of c is valid UTF-8.
func (c *Container) plainStrings() bool {
	return utf8.ValidString(c.ID) && utf8.ValidString(c.Name) && utf8.ValidString(string(c.Status)) &&
		utf8.ValidString(c.Error) && utf8.ValidString(c.Cgroup) && c.Config.PlainStrings()
}

// decodeContainer is json.Unmarshal(b, c), read by hand when it can be.
func decodeContainer(b []byte, c *Container) error {
	return plainjson.Unmarshal(b, c, readContainer)
}

// readContainer reads what encodeContainer writes; anything else fails.
func readContainer(b []byte, c *Container) error {
	r := plainjson.NewReader(b)
	if r.Null() {
		return plainjson.ErrNotPlain
	}
	err := r.Object(func(name string) error {
		switch name {
		case "id":
			return r.String(&c.ID)
		case "name":
			return r.String(&c.Name)
		case "config":
			return ReadConfig(r, &c.Config)
		case "status":
			s := string(c.Status)
			err := r.String(&s)
			c.Status = Status(s)
			return err
		case "pid":
			return readInt(r, &c.Pid)
		case "pidStart":
			return r.Uint(&c.PidStart, 64)
		case "supervisor":
			return readInt(r, &c.Supervisor)
		case "exitCode":
			return plainjson.Pointer(r, &c.ExitCode, func(n *int) error { return readInt(r, n) })
		case "error":
			return r.String(&c.Error)
		case "cgroup":
			return r.String(&c.Cgroup)
		case "created":
			return r.Unmarshaler(&c.Created)
		case "started":
			return r.Unmarshaler(&c.Started)
		case "finished":
			return r.Unmarshaler(&c.Finished)
		}
		return r.Skip()
	})
	if err != nil {
		return err
	}
	return r.End()
}

// readInt reads an int; null leaves out alone.
func readInt(r *plainjson.Reader, out *int) error {
	n := int64(*out)
	err := r.Int(&n, strconv.IntSize)
	*out = int(n)
	return err
}
