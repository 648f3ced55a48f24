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
	err := plainjson.Unmarshal(b, &spec, decodeSpec)
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
			return state.ReadConfig(d.Reader, &spec.Config)
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
	b = state.AppendConfig(b, &spec.Config)
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

// plainStrings tells whether every string of spec is valid UTF-8.
func (spec *Spec) plainStrings() bool {
	return utf8.ValidString(spec.ID) && utf8.ValidString(spec.Name) && spec.Config.PlainStrings()
}
