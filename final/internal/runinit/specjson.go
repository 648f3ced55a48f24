package runinit

// specjson.go reads the spec without encoding/json. Every container's init
// decodes one spec, in a fresh process: encoding/json first builds, by
// reflection, its tables of every field of Spec and state.Config, and
// faults in the code that does it, about 1 ms of the init's start on the
// bench machine for some 500 bytes. The supervisor still writes the spec
// with encoding/json; decodeSpec reads exactly that (objects, arrays,
// strings with their escapes, numbers, true, false, null), by the fields'
// JSON names, skipping names it does not know as encoding/json does.
// specjson_test.go fills every field of Spec by reflection, so a field
// added to Spec or state.Config and not read here fails the test.

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

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
	d := &jsonReader{b: b}
	err := d.object(func(key string) error {
		switch key {
		case "id":
			return d.str(&spec.ID)
		case "name":
			return d.str(&spec.Name)
		case "config":
			return d.config(&spec.Config)
		case "explain":
			return d.boolean(&spec.Explain)
		case "color":
			return d.boolean(&spec.Color)
		case "winsize":
			return d.object(func(key string) error {
				switch key {
				case "Rows":
					return d.u16(&spec.Winsize.Rows)
				case "Cols":
					return d.u16(&spec.Winsize.Cols)
				}
				return d.skip()
			})
		}
		return d.skip()
	})
	if err != nil {
		return err
	}
	if d.space(); d.i != len(d.b) {
		return d.fail("data after the spec")
	}
	return nil
}

// config reads a state.Config.
func (d *jsonReader) config(c *state.Config) error {
	return d.object(func(key string) error {
		switch key {
		case "rootfs":
			return d.str(&c.Rootfs)
		case "image":
			return d.str(&c.Image)
		case "layers":
			return d.strs(&c.Layers)
		case "command":
			return d.strs(&c.Command)
		case "env":
			return d.strs(&c.Env)
		case "workdir":
			return d.str(&c.Workdir)
		case "hostname":
			return d.str(&c.Hostname)
		case "volumes":
			if d.null() {
				c.Volumes = nil
				return nil
			}
			c.Volumes = []state.Volume{}
			return d.array(func() error {
				var v state.Volume
				err := d.object(func(key string) error {
					switch key {
					case "host":
						return d.str(&v.Host)
					case "container":
						return d.str(&v.Container)
					case "readOnly":
						return d.boolean(&v.ReadOnly)
					}
					return d.skip()
				})
				c.Volumes = append(c.Volumes, v)
				return err
			})
		case "readOnly":
			return d.boolean(&c.ReadOnly)
		case "tty":
			return d.boolean(&c.TTY)
		case "interactive":
			return d.boolean(&c.Interactive)
		case "noInit":
			return d.boolean(&c.NoInit)
		case "user":
			return d.str(&c.User)
		case "seccompUnconfined":
			return d.boolean(&c.Unconfined)
		case "detach":
			return d.boolean(&c.Detach)
		case "autoRemove":
			return d.boolean(&c.AutoRemove)
		case "namespaces":
			return d.strs(&c.Namespaces)
		case "idMap":
			if d.null() {
				c.IDMap = nil
				return nil
			}
			c.IDMap = &state.IDMap{}
			return d.object(func(key string) error {
				switch key {
				case "hostId":
					return d.u32(&c.IDMap.HostID)
				case "size":
					return d.u32(&c.IDMap.Size)
				}
				return d.skip()
			})
		case "limits":
			if d.null() {
				c.Limits = nil
				return nil
			}
			c.Limits = map[string]string{}
			return d.object(func(key string) error {
				var v string
				err := d.str(&v)
				c.Limits[key] = v
				return err
			})
		case "network":
			return d.str(&c.Network)
		case "ports":
			return d.strs(&c.Ports)
		case "log":
			if d.null() {
				c.Log = nil
				return nil
			}
			c.Log = &state.LogOptions{}
			return d.object(func(key string) error {
				switch key {
				case "maxSize":
					return d.i64(&c.Log.MaxSize)
				case "maxFiles":
					var n int64
					err := d.i64(&n)
					c.Log.MaxFiles = int(n)
					return err
				}
				return d.skip()
			})
		}
		return d.skip()
	})
}

// jsonReader reads JSON values from b, from offset i on.
type jsonReader struct {
	b []byte
	i int
}

// errJSON is what decodeSpec fails with, before DecodeSpec falls back.
var errJSON = errors.New("not the spec's JSON")

// fail is errJSON, saying what was wrong where.
func (d *jsonReader) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", errJSON, what, d.i)
}

// space skips white space.
func (d *jsonReader) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next is the next byte after white space, or 0 at the end.
func (d *jsonReader) next() byte {
	d.space()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// literal consumes word if it comes next.
func (d *jsonReader) literal(word string) bool {
	d.space()
	if len(d.b)-d.i >= len(word) && string(d.b[d.i:d.i+len(word)]) == word {
		d.i += len(word)
		return true
	}
	return false
}

// null consumes a null if one comes next.
func (d *jsonReader) null() bool { return d.literal("null") }

// object reads an object, calling field for each name with the reader at
// its value, which field must consume. null is an object with no fields.
func (d *jsonReader) object(field func(key string) error) error {
	if d.null() {
		return nil
	}
	if d.next() != '{' {
		return d.fail("want an object")
	}
	d.i++
	if d.next() == '}' {
		d.i++
		return nil
	}
	for {
		var key string
		if err := d.str(&key); err != nil {
			return err
		}
		if d.next() != ':' {
			return d.fail("want a colon")
		}
		d.i++
		if err := field(key); err != nil {
			return err
		}
		switch d.next() {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return d.fail("want a comma or the end of the object")
		}
	}
}

// array reads an array, calling elem with the reader at each element.
func (d *jsonReader) array(elem func() error) error {
	if d.null() {
		return nil
	}
	if d.next() != '[' {
		return d.fail("want an array")
	}
	d.i++
	if d.next() == ']' {
		d.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch d.next() {
		case ',':
			d.i++
		case ']':
			d.i++
			return nil
		default:
			return d.fail("want a comma or the end of the array")
		}
	}
}

// strs reads an array of strings; [] gives an empty, non-nil slice.
func (d *jsonReader) strs(out *[]string) error {
	if d.null() {
		*out = nil
		return nil
	}
	list := []string{}
	err := d.array(func() error {
		var s string
		err := d.str(&s)
		list = append(list, s)
		return err
	})
	*out = list
	return err
}

// boolean reads true or false.
func (d *jsonReader) boolean(out *bool) error {
	switch {
	case d.literal("true"):
		*out = true
	case d.literal("false"):
		*out = false
	case d.null():
	default:
		return d.fail("want true or false")
	}
	return nil
}

// number is the text of the number that comes next.
func (d *jsonReader) number() (string, error) {
	d.space()
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			break
		}
		d.i++
	}
	if d.i == start {
		return "", d.fail("want a number")
	}
	return string(d.b[start:d.i]), nil
}

// i64 reads an integer.
func (d *jsonReader) i64(out *int64) error {
	if d.null() {
		return nil
	}
	s, err := d.number()
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return d.fail("want an integer")
	}
	*out = n
	return nil
}

// unsigned reads an unsigned integer of bits bits.
func (d *jsonReader) unsigned(out *uint64, bits int) error {
	s, err := d.number()
	if err != nil {
		return err
	}
	n, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return d.fail("want an unsigned integer")
	}
	*out = n
	return nil
}

// u32 reads a uint32.
func (d *jsonReader) u32(out *uint32) error {
	if d.null() {
		return nil
	}
	var n uint64
	err := d.unsigned(&n, 32)
	*out = uint32(n)
	return err
}

// u16 reads a uint16.
func (d *jsonReader) u16(out *uint16) error {
	if d.null() {
		return nil
	}
	var n uint64
	err := d.unsigned(&n, 16)
	*out = uint16(n)
	return err
}

// str reads a string, undoing JSON's escapes.
func (d *jsonReader) str(out *string) error {
	if d.null() {
		return nil
	}
	if d.next() != '"' {
		return d.fail("want a string")
	}
	d.i++
	start := d.i
	// The common case: no escapes, valid UTF-8.
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == '"' {
			if utf8.Valid(d.b[start:d.i]) {
				*out = string(d.b[start:d.i])
				d.i++
				return nil
			}
			break
		}
		if c == '\\' || c < ' ' {
			break
		}
		d.i++
	}
	d.i = start
	var buf []byte
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			*out = string(buf)
			return nil
		case c < ' ':
			return d.fail("control character in a string")
		case c == '\\':
			if d.i+1 >= len(d.b) {
				return d.fail("unfinished escape")
			}
			e := d.b[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return d.fail("bad \\u escape")
				}
				if utf16.IsSurrogate(r) {
					// A pair, or U+FFFD as encoding/json gives.
					save := d.i
					if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
						d.i += 2
						if r2, ok := d.hex4(); ok {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								buf = utf8.AppendRune(buf, dec)
								continue
							}
						}
					}
					d.i = save
					r = utf8.RuneError
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return d.fail("bad escape")
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			d.i++
		default:
			r, size := utf8.DecodeRune(d.b[d.i:])
			if r == utf8.RuneError && size == 1 {
				buf = utf8.AppendRune(buf, utf8.RuneError)
			} else {
				buf = append(buf, d.b[d.i:d.i+size]...)
			}
			d.i += size
		}
	}
	return d.fail("unfinished string")
}

// hex4 reads the four hex digits of a \u escape.
func (d *jsonReader) hex4() (rune, bool) {
	if d.i+4 > len(d.b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(d.b[d.i:d.i+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	d.i += 4
	return rune(n), true
}

// skip consumes one value of any kind.
func (d *jsonReader) skip() error {
	switch c := d.next(); {
	case c == '{':
		return d.object(func(string) error { return d.skip() })
	case c == '[':
		return d.array(d.skip)
	case c == '"':
		var s string
		return d.str(&s)
	case c == 't' || c == 'f':
		var b bool
		return d.boolean(&b)
	case c == 'n':
		if d.null() {
			return nil
		}
	default:
		if _, err := d.number(); err == nil {
			return nil
		}
	}
	return d.fail("want a value")
}
