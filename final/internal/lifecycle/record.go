package lifecycle

// record.go writes and reads a container's record (state.json) without
// encoding/json's reflection. Every box-runc process an engine runs on a
// container (create, start, state, kill, delete) is a fresh one, and
// encoding/json first builds its tables of the record's types (Container,
// cgroups.Cgroup, Dir, time.Time) by reflection, growing the goroutine's
// stack as it goes: the biggest part of start's and delete's own work in
// a CPU profile. The record is small and its shape fixed, so it is
// written and read here by hand; anything else in a record (hooks, the
// spec an older box-runc kept, a name this code does not know, a string
// that is not UTF-8) goes to encoding/json, so the result is always what
// encoding/json would give. record_test.go checks both ways against it.

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"box/final/internal/cgroups"
)

// encodeRecord is json.Marshal(c), by hand when it can.
func encodeRecord(c *Container) ([]byte, error) {
	if c.Hooks != nil || !c.plainStrings() {
		return json.Marshal(c)
	}
	b := make([]byte, 0, 1024)
	b = append(b, `{"id":`...)
	b = appendString(b, c.ID)
	b = append(b, `,"bundle":`...)
	b = appendString(b, c.Bundle)
	b = append(b, `,"rootfs":`...)
	b = appendString(b, c.Rootfs)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(c.Pid), 10)
	b = append(b, `,"pidStart":`...)
	b = strconv.AppendUint(b, c.PidStart, 10)
	b = append(b, `,"created":"`...)
	b = c.Created.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if len(c.Annotations) > 0 {
		b = append(b, `,"annotations":{`...)
		first := true
		for _, k := range sortedKeys(c.Annotations) {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, c.Annotations[k])
		}
		b = append(b, '}')
	}
	if cg := c.Cgroup; cg != nil {
		b = append(b, `,"cgroup":{"version":`...)
		b = strconv.AppendInt(b, int64(cg.Version), 10)
		b = append(b, `,"dirs":`...)
		if cg.Dirs == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i, d := range cg.Dirs {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"path":`...)
				b = appendString(b, d.Path)
				b = append(b, `,"controllers":`...)
				b = appendStrings(b, d.Controllers)
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	if c.NoProcess {
		b = append(b, `,"noProcess":true`...)
	}
	b = append(b, `,"namespaces":`...)
	b = appendStrings(b, c.Namespaces)
	if c.ExplainLog != "" {
		b = append(b, `,"explainLog":`...)
		b = appendString(b, c.ExplainLog)
	}
	return append(b, '}'), nil
}

// plainStrings tells whether every string of the record is valid UTF-8,
// which encoding/json would otherwise rewrite.
func (c *Container) plainStrings() bool {
	ok := utf8.ValidString(c.ID) && utf8.ValidString(c.Bundle) && utf8.ValidString(c.Rootfs) && utf8.ValidString(c.ExplainLog)
	for k, v := range c.Annotations {
		ok = ok && utf8.ValidString(k) && utf8.ValidString(v)
	}
	for _, n := range c.Namespaces {
		ok = ok && utf8.ValidString(n)
	}
	if c.Cgroup != nil {
		for _, d := range c.Cgroup.Dirs {
			ok = ok && utf8.ValidString(d.Path)
			for _, n := range d.Controllers {
				ok = ok && utf8.ValidString(n)
			}
		}
	}
	return ok
}

// appendStrings appends list as a JSON array, or null for nil.
func appendStrings(b []byte, list []string) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendString appends s, valid UTF-8, as a JSON string, escaped as
// encoding/json escapes it (HTML characters and line separators too).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

// decodeRecord is json.Unmarshal(b, c), by hand when it can.
func decodeRecord(b []byte, c *Container) error {
	var fast Container
	if err := (&recordReader{b: b}).container(&fast); err == nil {
		*c = fast
		return nil
	}
	return json.Unmarshal(b, c)
}

// errNotPlain sends a record to encoding/json.
var errNotPlain = errors.New("not a plain record")

// recordReader reads the JSON a record is, from b at i.
type recordReader struct {
	b []byte
	i int
}

func (r *recordReader) container(c *Container) error {
	err := r.object(func(key string) error {
		switch key {
		case "id":
			return r.str(&c.ID)
		case "bundle":
			return r.str(&c.Bundle)
		case "rootfs":
			return r.str(&c.Rootfs)
		case "pid":
			n, err := r.int(strconv.IntSize)
			c.Pid = int(n)
			return err
		case "pidStart":
			return r.uint64(&c.PidStart)
		case "created":
			var s string
			if err := r.str(&s); err != nil {
				return err
			}
			t, err := time.Parse(time.RFC3339Nano, s)
			c.Created = t
			return err
		case "annotations":
			return r.annotations(&c.Annotations)
		case "cgroup":
			if r.null() {
				return nil
			}
			c.Cgroup = &cgroups.Cgroup{}
			return r.cgroup(c.Cgroup)
		case "noProcess":
			return r.boolean(&c.NoProcess)
		case "namespaces":
			return r.strings(&c.Namespaces)
		case "explainLog":
			return r.str(&c.ExplainLog)
		}
		return errNotPlain // hooks, an older record's spec, a name unknown here
	})
	if err != nil {
		return err
	}
	r.space()
	if r.i != len(r.b) {
		return errNotPlain
	}
	return nil
}

func (r *recordReader) cgroup(cg *cgroups.Cgroup) error {
	return r.object(func(key string) error {
		switch key {
		case "version":
			n, err := r.int(strconv.IntSize)
			cg.Version = int(n)
			return err
		case "dirs":
			if r.null() {
				cg.Dirs = nil
				return nil
			}
			cg.Dirs = []cgroups.Dir{}
			return r.array(func() error {
				var d cgroups.Dir
				err := r.object(func(key string) error {
					switch key {
					case "path":
						return r.str(&d.Path)
					case "controllers":
						return r.strings(&d.Controllers)
					}
					return errNotPlain
				})
				cg.Dirs = append(cg.Dirs, d)
				return err
			})
		}
		return errNotPlain
	})
}

func (r *recordReader) annotations(m *map[string]string) error {
	if r.null() {
		return nil
	}
	if *m == nil {
		*m = map[string]string{}
	}
	return r.object(func(key string) error {
		var v string
		err := r.str(&v)
		(*m)[key] = v
		return err
	})
}

// space skips white space.
func (r *recordReader) space() {
	for r.i < len(r.b) && (r.b[r.i] == ' ' || r.b[r.i] == '\t' || r.b[r.i] == '\n' || r.b[r.i] == '\r') {
		r.i++
	}
}

// peek is the next byte after white space, or 0 at the end.
func (r *recordReader) peek() byte {
	r.space()
	if r.i == len(r.b) {
		return 0
	}
	return r.b[r.i]
}

// literal consumes word if it comes next.
func (r *recordReader) literal(word string) bool {
	r.space()
	if len(r.b)-r.i >= len(word) && string(r.b[r.i:r.i+len(word)]) == word {
		r.i += len(word)
		return true
	}
	return false
}

func (r *recordReader) null() bool { return r.literal("null") }

// object reads {"key": value, ...}, calling field to read each value.
func (r *recordReader) object(field func(key string) error) error {
	if r.peek() != '{' {
		return errNotPlain
	}
	r.i++
	if r.peek() == '}' {
		r.i++
		return nil
	}
	for {
		var key string
		if err := r.str(&key); err != nil {
			return err
		}
		if r.peek() != ':' {
			return errNotPlain
		}
		r.i++
		if err := field(key); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return nil
		default:
			return errNotPlain
		}
	}
}

// array reads [elem, ...], calling elem to read each.
func (r *recordReader) array(elem func() error) error {
	if r.peek() != '[' {
		return errNotPlain
	}
	r.i++
	if r.peek() == ']' {
		r.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return nil
		default:
			return errNotPlain
		}
	}
}

// strings reads an array of strings, or null (nil), as encoding/json
// fills a []string.
func (r *recordReader) strings(out *[]string) error {
	if r.null() {
		*out = nil
		return nil
	}
	list := []string{}
	err := r.array(func() error {
		var s string
		err := r.str(&s)
		list = append(list, s)
		return err
	})
	*out = list
	return err
}

func (r *recordReader) boolean(out *bool) error {
	switch {
	case r.literal("true"):
		*out = true
	case r.literal("false"):
		*out = false
	default:
		return errNotPlain
	}
	return nil
}

// number is the text of a JSON integer (no fraction or exponent: those
// go to encoding/json).
func (r *recordReader) number() string {
	r.space()
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	return string(r.b[start:r.i])
}

func (r *recordReader) int(bits int) (int64, error) {
	n, err := strconv.ParseInt(r.number(), 10, bits)
	if err != nil {
		return 0, errNotPlain
	}
	return n, nil
}

func (r *recordReader) uint64(out *uint64) error {
	n, err := strconv.ParseUint(r.number(), 10, 64)
	if err != nil {
		return errNotPlain
	}
	*out = n
	return nil
}

// str reads a JSON string with its escapes; one that is not valid UTF-8
// goes to encoding/json, which replaces what is not.
func (r *recordReader) str(out *string) error {
	if r.peek() != '"' {
		return errNotPlain
	}
	r.i++
	start := r.i
	for r.i < len(r.b) && r.b[r.i] != '"' && r.b[r.i] != '\\' && r.b[r.i] >= 0x20 {
		r.i++
	}
	if r.i < len(r.b) && r.b[r.i] == '"' {
		s := r.b[start:r.i]
		r.i++
		if !utf8.Valid(s) {
			return errNotPlain
		}
		*out = string(s)
		return nil
	}
	buf := append([]byte(nil), r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			if !utf8.Valid(buf) {
				return errNotPlain
			}
			*out = string(buf)
			return nil
		case c < 0x20:
			return errNotPlain
		case c != '\\':
			buf = append(buf, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.b) {
			return errNotPlain
		}
		e := r.b[r.i+1]
		r.i += 2
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
			c1, ok := r.hex4()
			if !ok {
				return errNotPlain
			}
			if utf16.IsSurrogate(c1) {
				if !r.literalRaw(`\u`) {
					return errNotPlain
				}
				c2, ok := r.hex4()
				if !ok {
					return errNotPlain
				}
				if c1 = utf16.DecodeRune(c1, c2); c1 == utf8.RuneError {
					return errNotPlain
				}
			}
			buf = utf8.AppendRune(buf, c1)
		default:
			return errNotPlain
		}
	}
	return errNotPlain
}

// literalRaw consumes s if it comes next, white space included.
func (r *recordReader) literalRaw(s string) bool {
	if len(r.b)-r.i >= len(s) && string(r.b[r.i:r.i+len(s)]) == s {
		r.i += len(s)
		return true
	}
	return false
}

// hex4 reads the four hex digits of a \u escape.
func (r *recordReader) hex4() (rune, bool) {
	if len(r.b)-r.i < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(r.b[r.i:r.i+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	r.i += 4
	return rune(n), true
}
