package cgroups

import (
	"strconv"
	"unicode/utf8"

	"box/final/internal/plainjson"
)

// AppendJSON appends cg as json.Marshal writes a Cgroup, without
// encoding/json's reflection (the records box run and box-runc create
// write at every start). Its strings must be valid UTF-8 (PlainStrings).
func (cg *Cgroup) AppendJSON(b []byte) []byte {
	b = append(b, `{"version":`...)
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
			b = plainjson.AppendString(b, d.Path)
			b = append(b, `,"controllers":`...)
			b = plainjson.AppendStrings(b, d.Controllers)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// PlainStrings tells whether every string of cg is valid UTF-8, which
// encoding/json would otherwise rewrite.
func (cg *Cgroup) PlainStrings() bool {
	ok := true
	for _, d := range cg.Dirs {
		ok = ok && utf8.ValidString(d.Path)
		for _, c := range d.Controllers {
			ok = ok && utf8.ValidString(c)
		}
	}
	return ok
}
