package runinit

// specjson.go writes and reads the spec without encoding/json. Every
// container's init decodes one spec, in a fresh process, and box run
// encodes one in a process that lives a few milliseconds: encoding/json
// first builds, by reflection, its tables of every field of Spec and
// state.Config, and faults in the code that does it, about 1 ms of the
// init's start on the bench machine for some 500 bytes, and the largest
// share of box run's JSON work (the init waits for it). EncodeSpec writes
// the bytes json.Marshal writes; decodeSpec reads them with
// internal/plainjson, by the fields' JSON names, skipping names it does
// not know as encoding/json does.
// specjson_test.go fills every field of Spec by reflection, so a field
// added to Spec or state.Config and not read here fails the test.

import (
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"

	"box/final/internal/plainjson"
	"box/final/internal/state"
)

// DecodeSpec reads the spec the supervisor wrote with encoding/json. What
// decodeSpec does not read (nothing the supervisor writes) goes to
// encoding/json, so the result is always json.Unmarshal's.
func DecodeSpec(b []byte) (Spec, error) {
	var spec Spec
	if err := decodeSpec(b, &spec); err == nil {
		return spec, nil
	}
	spec = Spec{}
	err := json.Unmarshal(b, &spec)
	return spec, err
}

// decodeSpec reads b into spec.
func decodeSpec(b []byte, spec *Spec) error {
	d := specReader{plainjson.NewReader(b)}
	err := d.Object(func(key string) error {
		switch key {
		case "id":
			return d.String(&spec.ID)
		case "name":
			return d.String(&spec.Name)
		case "config":
			return d.config(&spec.Config)
		case "explain":
			return d.Bool(&spec.Explain)
		case "color":
			return d.Bool(&spec.Color)
		case "winsize":
			return d.Object(func(key string) error {
				switch key {
				case "Rows":
					return d.Uint16(&spec.Winsize.Rows)
				case "Cols":
					return d.Uint16(&spec.Winsize.Cols)
				}
				return d.Skip()
			})
		}
		return d.Skip()
	})
	if err != nil {
		return err
	}
	return d.End()
}

// config reads a state.Config.
func (d specReader) config(c *state.Config) error {
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
			c.Volumes = []state.Volume{}
			return d.Array(func() error {
				var v state.Volume
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
			if d.Null() {
				c.IDMap = nil
				return nil
			}
			c.IDMap = &state.IDMap{}
			return d.Object(func(key string) error {
				switch key {
				case "hostId":
					return d.Uint32(&c.IDMap.HostID)
				case "size":
					return d.Uint32(&c.IDMap.Size)
				}
				return d.Skip()
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
			if d.Null() {
				c.Log = nil
				return nil
			}
			c.Log = &state.LogOptions{}
			return d.Object(func(key string) error {
				switch key {
				case "maxSize":
					return d.Int(&c.Log.MaxSize, 64)
				case "maxFiles":
					var n int64
					err := d.Int(&n, 64)
					c.Log.MaxFiles = int(n)
					return err
				}
				return d.Skip()
			})
		}
		return d.Skip()
	})
}

// specReader reads the spec's JSON.
type specReader struct{ *plainjson.Reader }

// EncodeSpec is json.Marshal(spec), written by hand when every string is
// valid UTF-8 (encoding/json rewrites the others).
func EncodeSpec(spec Spec) ([]byte, error) {
	if !spec.plainStrings() {
		return json.Marshal(spec)
	}
	b := make([]byte, 0, 1024)
	b = append(b, `{"id":`...)
	b = plainjson.AppendString(b, spec.ID)
	b = append(b, `,"name":`...)
	b = plainjson.AppendString(b, spec.Name)
	b = append(b, `,"config":`...)
	b = appendConfig(b, &spec.Config)
	b = append(b, `,"explain":`...)
	b = strconv.AppendBool(b, spec.Explain)
	b = append(b, `,"color":`...)
	b = strconv.AppendBool(b, spec.Color)
	b = append(b, `,"winsize":{"Rows":`...)
	b = strconv.AppendUint(b, uint64(spec.Winsize.Rows), 10)
	b = append(b, `,"Cols":`...)
	b = strconv.AppendUint(b, uint64(spec.Winsize.Cols), 10)
	return append(b, "}}"...), nil
}

// appendConfig appends c as encoding/json writes a state.Config: its
// fields in order, omitempty ones left out when empty, map keys sorted.
func appendConfig(b []byte, c *state.Config) []byte {
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

// plainStrings tells whether every string of spec is valid UTF-8.
func (spec *Spec) plainStrings() bool {
	c := &spec.Config
	ok := utf8.ValidString(spec.ID) && utf8.ValidString(spec.Name)
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
