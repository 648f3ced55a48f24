package runinit

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"box/final/internal/plainjson/plainjsontest"
	"box/final/internal/state"

	"github.com/google/go-cmp/cmp"
)

// encode is what the supervisor sends (supervise.go: json.NewEncoder).
func encode(t *testing.T, spec Spec) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(spec); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDecodeSpecReadsEveryField: decodeSpec gives what json.Unmarshal
// gives for a spec with every field set, without falling back to it.
func TestDecodeSpecReadsEveryField(t *testing.T) {
	var spec Spec
	plainjsontest.Fill(t, reflect.ValueOf(&spec).Elem())
	b := encode(t, spec)
	var got Spec
	if err := decodeSpec(b, &got); err != nil {
		t.Fatalf("decodeSpec: %v\n%s", err, b)
	}
	if diff := cmp.Diff(spec, got); diff != "" {
		t.Errorf("decodeSpec (-encoded +decoded):\n%s", diff)
	}
}

// TestDecodeSpecLikeUnmarshal compares with json.Unmarshal on the shapes
// encoding/json may write, which decodeSpec must read itself, and on a
// few it never writes (a fraction, a lone surrogate, bytes that are not
// UTF-8), which DecodeSpec hands to json.Unmarshal.
func TestDecodeSpecLikeUnmarshal(t *testing.T) {
	for _, tt := range []struct {
		in    string
		plain bool
	}{
		{`{}`, true},
		{`{"id":"a","config":{"rootfs":"/r","command":["sh","-c","echo hi"],"env":null,"workdir":"","hostname":"h","namespaces":[]},"explain":false,"color":false,"winsize":{"Rows":0,"Cols":0}}`, true},
		{`{"config":{"volumes":[],"limits":{},"idMap":null,"log":null,"layers":null}}`, true},
		{` { "unknown" : [1, -2, {"x": [true, false, null]}, "s"], "id" : "\u00e9\ud83d\ude00x\/" } `, true},
		{`{"config":{"env":["A=\u003c\u003e\u0026","B=\u2028"],"idMap":{"hostId":100000,"size":65536},"log":{"maxSize":10485760,"maxFiles":3}}}`, true},
		{` { "unknown" : [-2.5e3], "id" : "\ud800x" } `, false},
		{"{\"name\":\"bad \xff utf8\"}", false},
	} {
		var want Spec
		if err := json.Unmarshal([]byte(tt.in), &want); err != nil {
			t.Fatalf("json.Unmarshal %s: %v", tt.in, err)
		}
		var fast Spec
		if err := decodeSpec([]byte(tt.in), &fast); (err == nil) != tt.plain {
			t.Errorf("decodeSpec %s: error %v, want it read: %v", tt.in, err, tt.plain)
		}
		got, err := DecodeSpec([]byte(tt.in))
		if err != nil {
			t.Errorf("DecodeSpec %s: %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-json.Unmarshal +DecodeSpec):\n%s", tt.in, diff)
		}
	}
}

// TestDecodeSpecFallsBack: what decodeSpec refuses goes to json.Unmarshal,
// errors included.
func TestDecodeSpecFallsBack(t *testing.T) {
	for _, in := range []string{`{"id":`, `[]`, `{"id":"a"} x`, `{"config":{"idMap":{"size":-1}}}`} {
		var want Spec
		wantErr := json.Unmarshal([]byte(in), &want)
		got, err := DecodeSpec([]byte(in))
		if (err == nil) != (wantErr == nil) {
			t.Errorf("DecodeSpec %s: error %v, json.Unmarshal's %v", in, err, wantErr)
		}
		if err == nil {
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s (-json.Unmarshal +DecodeSpec):\n%s", in, diff)
			}
		}
	}
}

// BenchmarkDecodeSpec is a typical spec's decode, warm.
func BenchmarkDecodeSpec(b *testing.B) {
	in := []byte(`{"id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","name":"box-0123","config":{"rootfs":"/var/lib/box/containers/0123/rootfs","image":"busybox:latest","command":["/bin/true"],"env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","HOME=/root"],"workdir":"/","hostname":"0123456789ab","autoRemove":true,"namespaces":["user","pid","mnt","uts","ipc","net","cgroup"],"idMap":{"hostId":100000,"size":65536},"network":"none"},"explain":false,"color":false,"winsize":{"Rows":0,"Cols":0}}`)
	for i := 0; i < b.N; i++ {
		if _, err := DecodeSpec(in); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEncodeSpecLikeMarshal: EncodeSpec writes json.Marshal's bytes, for
// a spec with every field set, an empty one, and the empty values
// omitempty leaves out or keeps.
func TestEncodeSpecLikeMarshal(t *testing.T) {
	var full Spec
	plainjsontest.Fill(t, reflect.ValueOf(&full).Elem())
	empties := full
	empties.Config.Layers, empties.Config.Ports, empties.Config.Volumes = []string{}, nil, []state.Volume{}
	empties.Config.Command, empties.Config.Env, empties.Config.Namespaces = nil, []string{}, nil
	empties.Config.Limits = map[string]string{}
	empties.Config.Log = &state.LogOptions{MaxFiles: 3}
	empties.Config.Volumes = []state.Volume{{Host: "/h", Container: "/c"}}
	notUTF8 := full
	notUTF8.Name = "bad \xff"
	for name, spec := range map[string]Spec{"every field": full, "empty": {}, "empty values": empties, "not UTF-8": notUTF8,
		"log maxSize only": {Config: state.Config{Log: &state.LogOptions{MaxSize: 5}}}, "log empty": {Config: state.Config{Log: &state.LogOptions{}}}} {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(spec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := EncodeSpec(spec)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("EncodeSpec:\n%s\njson.Marshal:\n%s", got, want)
			}
		})
	}
}
