package lifecycle

// initconfig.go writes and reads the initConfig create (and exec) sends
// the container's process without encoding/json, whose first use in each
// process builds its tables of the type's fields by reflection: about a
// third of a millisecond on each side, per container, on the bench
// machine. What is not plain (a string that is not valid UTF-8, a config
// that is not JSON) goes to encoding/json, so what the process reads is
// always what json.Unmarshal would give for json.Marshal's text.

import (
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf8"

	"box/final/internal/oci"
	"box/final/internal/plainjson"
)

// encodeInitConfig is json.Marshal(cfg) in meaning: the config.json in it
// goes as it came, not compacted.
func encodeInitConfig(cfg *initConfig) ([]byte, error) {
	if !cfg.plainStrings() || !json.Valid(cfg.Config) {
		return json.Marshal(cfg)
	}
	b := make([]byte, 0, len(cfg.Config)+512)
	b = append(b, `{"id":`...)
	b = plainjson.AppendString(b, cfg.ID)
	b = append(b, `,"config":`...)
	b = append(b, cfg.Config...)
	b = append(b, `,"rootfs":`...)
	b = plainjson.AppendString(b, cfg.Rootfs)
	b = appendBool(b, "noPivot", cfg.NoPivot)
	b = appendBool(b, "explain", cfg.Explain)
	b = appendBool(b, "color", cfg.Color)
	b = appendBool(b, "terminal", cfg.Terminal)
	if len(cfg.Joined) > 0 {
		b = append(b, `,"joined":[`...)
		for i, n := range cfg.Joined {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":`...)
			b = plainjson.AppendString(b, n.Type)
			if n.Path != "" {
				b = append(b, `,"path":`...)
				b = plainjson.AppendString(b, n.Path)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendBool(b, "noMount", cfg.NoMount)
	b = appendBool(b, "newUser", cfg.NewUser)
	if len(cfg.CgroupDirs) > 0 {
		b = append(b, `,"cgroupDirs":`...)
		b = plainjson.AppendStrings(b, cfg.CgroupDirs)
	}
	b = append(b, `,"bundle":`...)
	b = plainjson.AppendString(b, cfg.Bundle)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(cfg.Pid), 10)
	if cfg.Exec {
		b = append(b, `,"exec":true`...)
	}
	return append(b, '}'), nil
}

// sendInitConfig writes cfg to w, the process's config pipe.
func sendInitConfig(w io.Writer, cfg *initConfig) error {
	b, err := encodeInitConfig(cfg)
	if err == nil {
		_, err = w.Write(b)
	}
	return err
}

// appendBool appends ,"name":true or false.
func appendBool(b []byte, name string, v bool) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendBool(b, v)
}

// plainStrings tells whether every string of cfg is valid UTF-8, which
// encoding/json would otherwise rewrite.
func (cfg *initConfig) plainStrings() bool {
	ok := utf8.ValidString(cfg.ID) && utf8.ValidString(cfg.Rootfs) && utf8.ValidString(cfg.Bundle)
	for _, n := range cfg.Joined {
		ok = ok && utf8.ValidString(n.Type) && utf8.ValidString(n.Path)
	}
	for _, d := range cfg.CgroupDirs {
		ok = ok && utf8.ValidString(d)
	}
	return ok
}

// decodeInitConfig is json.Unmarshal(b, cfg), by hand when it can be.
func decodeInitConfig(b []byte, cfg *initConfig) error {
	return plainjson.Unmarshal(b, cfg, readInitConfig)
}

// readInitConfig reads what encodeInitConfig writes; anything else is
// plainjson.ErrNotPlain.
func readInitConfig(b []byte, cfg *initConfig) error {
	r := plainjson.NewReader(b)
	if r.Null() {
		return plainjson.ErrNotPlain
	}
	err := r.Object(func(name string) error {
		var err error
		switch name {
		case "id":
			return r.String(&cfg.ID)
		case "config":
			if r.Null() {
				return plainjson.ErrNotPlain // encoding/json keeps the text "null"
			}
			cfg.Config, err = r.Raw()
			return err
		case "rootfs":
			return r.String(&cfg.Rootfs)
		case "noPivot":
			return r.Bool(&cfg.NoPivot)
		case "explain":
			return r.Bool(&cfg.Explain)
		case "color":
			return r.Bool(&cfg.Color)
		case "terminal":
			return r.Bool(&cfg.Terminal)
		case "joined":
			if r.Null() {
				cfg.Joined = nil
				return nil
			}
			cfg.Joined = []oci.Namespace{}
			return r.Array(func() error {
				var n oci.Namespace
				err := r.Object(func(name string) error {
					switch name {
					case "type":
						return r.String(&n.Type)
					case "path":
						return r.String(&n.Path)
					}
					return plainjson.ErrNotPlain
				})
				cfg.Joined = append(cfg.Joined, n)
				return err
			})
		case "noMount":
			return r.Bool(&cfg.NoMount)
		case "newUser":
			return r.Bool(&cfg.NewUser)
		case "cgroupDirs":
			return r.Strings(&cfg.CgroupDirs)
		case "bundle":
			return r.String(&cfg.Bundle)
		case "pid":
			n := int64(cfg.Pid)
			err = r.Int(&n, strconv.IntSize)
			cfg.Pid = int(n)
			return err
		case "exec":
			return r.Bool(&cfg.Exec)
		}
		return plainjson.ErrNotPlain // nothing else is written
	})
	if err != nil {
		return err
	}
	return r.End()
}
