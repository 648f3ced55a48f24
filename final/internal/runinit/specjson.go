package runinit

// specjson.go reads the spec without encoding/json. Every container's init
// decodes one spec, in a fresh process: encoding/json first builds, by
// reflection, its tables of every field of Spec and state.Config, and
// faults in the code that does it, about 1 ms of the init's start on the
// bench machine for some 500 bytes. The supervisor still writes the spec
// with encoding/json; decodeSpec reads that with internal/plainjson, by
// the fields' JSON names, skipping names it does not know as
// encoding/json does.
// specjson_test.go fills every field of Spec by reflection, so a field
// added to Spec or state.Config and not read here fails the test.

import (
	"encoding/json"

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
