package plainjson

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sample is a shape like the callers': a string, integers, a bool, a list
// of strings, a nested list of objects.
type sample struct {
	Name  string   `json:"name"`
	Count int64    `json:"count"`
	Size  uint64   `json:"size"`
	On    bool     `json:"on"`
	Tags  []string `json:"tags"`
	Items []item   `json:"items"`
}

type item struct {
	Path string `json:"path"`
}

// read is sample's reader, as a caller writes one.
func read(b []byte) (sample, error) {
	var s sample
	r := NewReader(b)
	err := r.Object(func(name string) error {
		switch name {
		case "name":
			return r.String(&s.Name)
		case "count":
			return r.Int(&s.Count, 64)
		case "size":
			return r.Uint(&s.Size, 64)
		case "on":
			return r.Bool(&s.On)
		case "tags":
			return r.Strings(&s.Tags)
		case "items":
			if r.Null() {
				s.Items = nil
				return nil
			}
			s.Items = []item{}
			return r.Array(func() error {
				var it item
				err := r.Object(func(name string) error {
					if name == "path" {
						return r.String(&it.Path)
					}
					return r.Skip()
				})
				s.Items = append(s.Items, it)
				return err
			})
		}
		return r.Skip()
	})
	if err == nil {
		err = r.End()
	}
	return s, err
}

// TestReaderAgreesWithEncodingJSON reads each input both ways: whatever
// the reader takes for plain must come out as json.Unmarshal's, and what
// it refuses must be ErrNotPlain.
func TestReaderAgreesWithEncodingJSON(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		plain bool
	}{
		{"every field", `{"name":"box","count":-7,"size":18446744073709551615,"on":true,"tags":["a","b"],"items":[{"path":"/x"},{"path":"/y","other":[1,{"z":null}]}]}`, true},
		{"white space", " {\n \"name\" : \"a b\" ,\t\"tags\" : [ ] }\r\n", true},
		{"nulls", `{"name":null,"count":null,"on":null,"tags":null,"items":null}`, true},
		{"empty lists", `{"tags":[],"items":[]}`, true},
		{"unknown names skipped", `{"x":{"y":[true,false,null,"s",12]},"name":"n"}`, true},
		{"escapes", `{"name":"q\"b\\s\/n\nr\rt\tb\bf\f\u00e9\u20ac"}`, true},
		{"surrogate pair", `{"name":"\ud83d\ude00"}`, true},
		{"utf-8", `{"name":"ünïcödé 😀"}`, true},
		{"empty object", `{}`, true},
		{"null object", `null`, true},
		{"lone surrogate", `{"name":"\ud83d"}`, false},
		{"bad utf-8", "{\"name\":\"\xff\"}", false},
		{"fraction", `{"count":1.5}`, false},
		{"exponent", `{"count":1e3}`, false},
		{"too big", `{"count":9223372036854775808}`, false},
		{"negative unsigned", `{"size":-1}`, false},
		{"zero", `{"count":0,"size":0}`, true},
		{"leading zero", `{"count":01}`, false},
		{"negative leading zero", `{"count":-01}`, false},
		{"minus alone", `{"count":-}`, false},
		{"control character", "{\"name\":\"a\tb\"}", false},
		{"trailing data", `{"name":"a"} x`, false},
		{"unfinished", `{"name":"a`, false},
		{"string for a bool", `{"on":"true"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := read([]byte(tt.in))
			if !tt.plain {
				if !errors.Is(err, ErrNotPlain) {
					t.Fatalf("want ErrNotPlain, got %v and %+v", err, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("want it read, got %v", err)
			}
			var want sample
			if err := json.Unmarshal([]byte(tt.in), &want); err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-encoding/json +plainjson):\n%s", diff)
			}
		})
	}
}

// TestAppendStringAgreesWithEncodingJSON writes strings both ways.
func TestAppendStringAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "nl\ncr\rtab\tbs\bff\f", "\x00\x1f", "<a href=\"x\">&</a>", "\u2028\u2029", "ünïcödé 😀", "/"} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, encoding/json writes %s", s, got, want)
		}
		var back string
		if err := NewReader(want).String(&back); err != nil || back != s {
			t.Errorf("String(%s) = %q, %v; want %q", want, back, err, s)
		}
	}
	for _, list := range [][]string{nil, {}, {"a", "<b>"}} {
		want, _ := json.Marshal(list)
		if got := AppendStrings(nil, list); string(got) != string(want) {
			t.Errorf("AppendStrings(%q) = %s, encoding/json writes %s", list, got, want)
		}
	}
}
