// Package plainjson reads and writes the plain JSON box writes for itself
// (the spec box run hands a container's init, box-runc's record of a
// container) without encoding/json. That package builds its tables of a
// type's fields by reflection at the first use in each process, which is
// the larger part of the work of a program that lives a few milliseconds,
// as box-init and each box-runc command an engine runs do.
//
// It reads objects, arrays, strings, integers, true, false and null.
// Anything else (a fraction or an exponent, a string that is not valid
// UTF-8 or holds a lone surrogate, a name its caller does not know) is
// ErrNotPlain, and the caller hands the same bytes to encoding/json: what
// is read is always what json.Unmarshal would give, only sooner.
package plainjson

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrNotPlain says the input is more than this package reads: give it to
// encoding/json.
var ErrNotPlain = errors.New("not plain JSON")

// Reader reads JSON values from a byte slice, one after the other.
type Reader struct {
	b []byte
	i int
}

// NewReader reads b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// fail is ErrNotPlain, saying what was wanted where.
func (r *Reader) fail(want string) error {
	return fmt.Errorf("%w: want %s at offset %d", ErrNotPlain, want, r.i)
}

// End checks that only white space is left.
func (r *Reader) End() error {
	if r.peek() != 0 || r.i != len(r.b) {
		return r.fail("the end")
	}
	return nil
}

// space skips white space.
func (r *Reader) space() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek is the next byte after white space, or 0 at the end.
func (r *Reader) peek() byte {
	r.space()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// literal consumes word if it comes next, after white space.
func (r *Reader) literal(word string) bool {
	r.space()
	if len(r.b)-r.i >= len(word) && string(r.b[r.i:r.i+len(word)]) == word {
		r.i += len(word)
		return true
	}
	return false
}

// Null consumes a null if one comes next.
func (r *Reader) Null() bool { return r.literal("null") }

// Object reads an object, calling field with each name and the reader at
// its value, which field must consume (or return ErrNotPlain for a name
// it does not know). null is read as an object with no names, as
// encoding/json leaves a struct alone for it.
func (r *Reader) Object(field func(name string) error) error {
	if r.Null() {
		return nil
	}
	if r.peek() != '{' {
		return r.fail("an object")
	}
	r.i++
	if r.peek() == '}' {
		r.i++
		return nil
	}
	for {
		var name string
		if err := r.String(&name); err != nil {
			return err
		}
		if r.peek() != ':' {
			return r.fail("a colon")
		}
		r.i++
		if err := field(name); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return nil
		default:
			return r.fail("a comma or the end of the object")
		}
	}
}

// Array reads an array, calling elem with the reader at each element,
// which elem must consume. null calls elem for nothing; a caller that
// must tell it from [] checks Null first.
func (r *Reader) Array(elem func() error) error {
	if r.Null() {
		return nil
	}
	if r.peek() != '[' {
		return r.fail("an array")
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
			return r.fail("a comma or the end of the array")
		}
	}
}

// Strings reads an array of strings as encoding/json fills a []string:
// null is nil, [] an empty slice that is not nil.
func (r *Reader) Strings(out *[]string) error {
	if r.Null() {
		*out = nil
		return nil
	}
	list := []string{}
	err := r.Array(func() error {
		var s string
		err := r.String(&s)
		list = append(list, s)
		return err
	})
	*out = list
	return err
}

// Bool reads true or false; null leaves out alone.
func (r *Reader) Bool(out *bool) error {
	switch {
	case r.literal("true"):
		*out = true
	case r.literal("false"):
		*out = false
	case r.Null():
	default:
		return r.fail("true or false")
	}
	return nil
}

// integer is the text of the integer that comes next; a fraction or an
// exponent is not plain.
func (r *Reader) integer() (string, error) {
	r.space()
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	digits := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	if r.i < len(r.b) && (r.b[r.i] == '.' || r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		return "", r.fail("an integer")
	}
	if r.i-digits > 1 && r.b[digits] == '0' {
		return "", r.fail("an integer without a leading zero") // not JSON: encoding/json says why
	}
	return string(r.b[start:r.i]), nil
}

// Int reads an integer that fits in bits; null leaves out alone.
func (r *Reader) Int(out *int64, bits int) error {
	if r.Null() {
		return nil
	}
	s, err := r.integer()
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		return r.fail(fmt.Sprintf("an integer of %d bits", bits))
	}
	*out = n
	return nil
}

// Uint reads an unsigned integer that fits in bits; null leaves out alone.
func (r *Reader) Uint(out *uint64, bits int) error {
	if r.Null() {
		return nil
	}
	s, err := r.integer()
	if err != nil {
		return err
	}
	n, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return r.fail(fmt.Sprintf("an unsigned integer of %d bits", bits))
	}
	*out = n
	return nil
}

// Uint32 reads an unsigned integer of 32 bits; null leaves out alone.
func (r *Reader) Uint32(out *uint32) error {
	n := uint64(*out)
	err := r.Uint(&n, 32)
	*out = uint32(n)
	return err
}

// Uint16 reads an unsigned integer of 16 bits; null leaves out alone.
func (r *Reader) Uint16(out *uint16) error {
	n := uint64(*out)
	err := r.Uint(&n, 16)
	*out = uint16(n)
	return err
}

// String reads a string, undoing JSON's escapes; null leaves out alone.
func (r *Reader) String(out *string) error {
	if r.Null() {
		return nil
	}
	if r.peek() != '"' {
		return r.fail("a string")
	}
	r.i++
	start := r.i
	for r.i < len(r.b) && r.b[r.i] != '"' && r.b[r.i] != '\\' && r.b[r.i] >= 0x20 {
		r.i++
	}
	buf := r.b[start:r.i]
	if r.i < len(r.b) && r.b[r.i] != '"' {
		buf = append([]byte(nil), buf...) // escapes follow: copy
		var err error
		if buf, err = r.escaped(buf); err != nil {
			return err
		}
	}
	if r.i >= len(r.b) {
		return r.fail("the end of the string")
	}
	r.i++ // the closing quote
	if !utf8.Valid(buf) {
		return r.fail("a string of valid UTF-8")
	}
	*out = string(buf)
	return nil
}

// escaped appends the rest of a string with escapes to buf, up to its
// closing quote.
func (r *Reader) escaped(buf []byte) ([]byte, error) {
	for r.i < len(r.b) && r.b[r.i] != '"' {
		c := r.b[r.i]
		if c < 0x20 {
			return nil, r.fail("no control character in a string")
		}
		if c != '\\' {
			buf = append(buf, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.b) {
			return nil, r.fail("an escape")
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
			if ok && utf16.IsSurrogate(c1) {
				// A pair; a lone half becomes U+FFFD in encoding/json.
				var c2 rune
				ok = len(r.b)-r.i >= 2 && r.b[r.i] == '\\' && r.b[r.i+1] == 'u'
				if ok {
					r.i += 2
					c2, ok = r.hex4()
				}
				if c1 = utf16.DecodeRune(c1, c2); c1 == utf8.RuneError {
					ok = false
				}
			}
			if !ok {
				return nil, r.fail("a \\u escape of a character")
			}
			buf = utf8.AppendRune(buf, c1)
		default:
			return nil, r.fail("a JSON escape")
		}
	}
	return buf, nil
}

// hex4 reads the four hex digits of a \u escape.
func (r *Reader) hex4() (rune, bool) {
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

// Raw consumes one value and returns a copy of its text, as encoding/json
// fills a json.RawMessage.
func (r *Reader) Raw() ([]byte, error) {
	r.space()
	start := r.i
	if err := r.Skip(); err != nil {
		return nil, err
	}
	return append([]byte(nil), r.b[start:r.i]...), nil
}

// Skip consumes one value of any kind, for a name the caller ignores as
// encoding/json does.
func (r *Reader) Skip() error {
	switch c := r.peek(); c {
	case '{':
		return r.Object(func(string) error { return r.Skip() })
	case '[':
		return r.Array(r.Skip)
	case '"':
		var s string
		return r.String(&s)
	case 't', 'f':
		var b bool
		return r.Bool(&b)
	case 'n':
		if r.Null() {
			return nil
		}
	default:
		var n int64
		return r.Int(&n, 64)
	}
	return r.fail("a value")
}
