package lifecycle

// record.go writes and reads a container's record (state.json) without
// encoding/json's reflection. Every box-runc process an engine runs on a
// container (create, start, state, kill, delete) is a fresh one, and
// encoding/json first builds its tables of the record's types (Container,
// cgroups.Cgroup, Dir, time.Time) by reflection, growing the goroutine's
// stack as it goes: the biggest part of start's and delete's own work in
// a CPU profile. The record is small and its shape fixed, so it is
// written and read here by hand, with internal/plainjson; anything else
// in a record (hooks, the spec an older box-runc kept, a name this code
// does not know, a string that is not UTF-8) goes to encoding/json, so
// the result is always what encoding/json would give. record_test.go
// checks both ways against it.

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"box/final/internal/cgroups"
	"box/final/internal/plainjson"
)

// encodeRecord is json.Marshal(c), by hand when it can.
func encodeRecord(c *Container) ([]byte, error) {
	if c.Hooks != nil || !c.plainStrings() {
		return json.Marshal(c)
	}
	b := make([]byte, 0, 1024)
	b = append(b, `{"id":`...)
	b = plainjson.AppendString(b, c.ID)
	b = append(b, `,"bundle":`...)
	b = plainjson.AppendString(b, c.Bundle)
	b = append(b, `,"rootfs":`...)
	b = plainjson.AppendString(b, c.Rootfs)
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
			b = plainjson.AppendString(b, k)
			b = append(b, ':')
			b = plainjson.AppendString(b, c.Annotations[k])
		}
		b = append(b, '}')
	}
	if cg := c.Cgroup; cg != nil {
		b = append(b, `,"cgroup":`...)
		b = cg.AppendJSON(b)
	}
	if c.NoProcess {
		b = append(b, `,"noProcess":true`...)
	}
	b = append(b, `,"namespaces":`...)
	b = plainjson.AppendStrings(b, c.Namespaces)
	if c.ExplainLog != "" {
		b = append(b, `,"explainLog":`...)
		b = plainjson.AppendString(b, c.ExplainLog)
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
	return ok && (c.Cgroup == nil || c.Cgroup.PlainStrings())
}

// decodeRecord is json.Unmarshal(b, c), by hand when it can.
func decodeRecord(b []byte, c *Container) error {
	return plainjson.Unmarshal(b, c, func(b []byte, c *Container) error {
		return recordReader{plainjson.NewReader(b)}.container(c)
	})
}

// recordReader reads the JSON a record is.
type recordReader struct{ *plainjson.Reader }

func (r recordReader) container(c *Container) error {
	err := r.Object(func(key string) error {
		switch key {
		case "id":
			return r.String(&c.ID)
		case "bundle":
			return r.String(&c.Bundle)
		case "rootfs":
			return r.String(&c.Rootfs)
		case "pid":
			var n int64
			err := r.Int(&n, strconv.IntSize)
			c.Pid = int(n)
			return err
		case "pidStart":
			return r.Uint(&c.PidStart, 64)
		case "created":
			var s string
			if err := r.String(&s); err != nil {
				return err
			}
			t, err := time.Parse(time.RFC3339Nano, s)
			c.Created = t
			return err
		case "annotations":
			return r.annotations(&c.Annotations)
		case "cgroup":
			if r.Null() {
				return nil
			}
			c.Cgroup = &cgroups.Cgroup{}
			return r.cgroup(c.Cgroup)
		case "noProcess":
			return r.Bool(&c.NoProcess)
		case "namespaces":
			return r.Strings(&c.Namespaces)
		case "explainLog":
			return r.String(&c.ExplainLog)
		}
		return plainjson.ErrNotPlain // hooks, an older record's spec, a name unknown here
	})
	if err != nil {
		return err
	}
	return r.End()
}

func (r recordReader) cgroup(cg *cgroups.Cgroup) error {
	return r.Object(func(key string) error {
		switch key {
		case "version":
			var n int64
			err := r.Int(&n, strconv.IntSize)
			cg.Version = int(n)
			return err
		case "dirs":
			if r.Null() {
				cg.Dirs = nil
				return nil
			}
			cg.Dirs = []cgroups.Dir{}
			return r.Array(func() error {
				var d cgroups.Dir
				err := r.Object(func(key string) error {
					switch key {
					case "path":
						return r.String(&d.Path)
					case "controllers":
						return r.Strings(&d.Controllers)
					}
					return plainjson.ErrNotPlain
				})
				cg.Dirs = append(cg.Dirs, d)
				return err
			})
		}
		return plainjson.ErrNotPlain
	})
}

func (r recordReader) annotations(m *map[string]string) error {
	if r.Null() {
		return nil
	}
	if *m == nil {
		*m = map[string]string{}
	}
	return r.Object(func(key string) error {
		var v string
		err := r.String(&v)
		(*m)[key] = v
		return err
	})
}
