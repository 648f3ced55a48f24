package plainjson

import (
	"encoding/json"
	"slices"
	"strings"
)

// Fields reads an object into a struct whose JSON names are names,
// calling set with the reader at the value of each. An unknown name is
// skipped, as encoding/json does, but one of names in other letter case
// (which encoding/json would match) or a name given twice (which it would
// merge) is ErrNotPlain.
func (r *Reader) Fields(names []string, set func(name string) error) error {
	var seen []string
	return r.Object(func(name string) error {
		if !slices.Contains(names, name) {
			for _, n := range names {
				if strings.EqualFold(n, name) {
					return ErrNotPlain
				}
			}
			return r.Skip()
		}
		if slices.Contains(seen, name) {
			return ErrNotPlain
		}
		seen = append(seen, name)
		return set(name)
	})
}

// List reads an array into a []T as encoding/json fills a slice: nil for
// null, empty for [], each element read by read into a zero T.
func List[T any](r *Reader, out *[]T, read func(*T) error) error {
	if r.Null() {
		*out = nil
		return nil
	}
	l := []T{}
	err := r.Array(func() error {
		var v T
		err := read(&v)
		l = append(l, v)
		return err
	})
	*out = l
	return err
}

// Unmarshaler reads one value into v with its UnmarshalJSON, as
// encoding/json calls it, null too: a time.Time field, say.
func (r *Reader) Unmarshaler(v json.Unmarshaler) error {
	raw, err := r.Raw()
	if err != nil {
		return err
	}
	return v.UnmarshalJSON(raw)
}

// Unmarshal is json.Unmarshal(b, v) for a type with a reader of its own:
// read fills *v from b and fails for whatever it does not read as
// encoding/json would; *v is then reset and b handed to json.Unmarshal,
// so the result is always that function's.
func Unmarshal[T any](b []byte, v *T, read func(b []byte, v *T) error) error {
	if read(b, v) == nil {
		return nil
	}
	var zero T
	*v = zero
	return json.Unmarshal(b, v)
}

// Pointer reads a value into a new *T with read, as encoding/json fills
// a pointer field: nil for null.
func Pointer[T any](r *Reader, out **T, read func(*T) error) error {
	if r.Null() {
		*out = nil
		return nil
	}
	v := new(T)
	*out = v
	return read(v)
}
