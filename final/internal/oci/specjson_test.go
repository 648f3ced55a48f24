package oci

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"box/final/internal/plainjson"
	"box/final/internal/plainjson/plainjsontest"

	"github.com/google/go-cmp/cmp"
)

// TestDecodeSpecReadsEveryField: decodeSpec gives what json.Unmarshal
// gives for a spec with every field set (but the opaque maps, which it
// leaves to encoding/json), without falling back to it.
func TestDecodeSpecReadsEveryField(t *testing.T) {
	var spec Spec
	plainjsontest.Fill(t, reflect.ValueOf(&spec).Elem())
	spec.Linux.Resources.BlockIO.WeightDevice = nil
	spec.Linux.Resources.Network.Priorities = nil
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var got Spec
	if err := decodeSpec(b, &got); err != nil {
		t.Fatalf("decodeSpec: %v\n%s", err, b)
	}
	if diff := cmp.Diff(spec, got); diff != "" {
		t.Errorf("decodeSpec (-encoded +decoded):\n%s", diff)
	}
}

// TestDecodeSpecReadsEnginesConfigs: the configs of runc spec, crun spec
// and podman run (with limits, annotations and its seccomp profile), and
// box-runc's own spec, are read by hand, as json.Unmarshal reads them.
func TestDecodeSpecReadsEnginesConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) < 4 {
		t.Fatalf("testdata/*.json: %v, %d files", err, len(files))
	}
	inputs := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[f] = b
	}
	for _, rootless := range []bool{false, true} {
		b, err := json.Marshal(DefaultSpec(rootless, 1000, 1000))
		if err != nil {
			t.Fatal(err)
		}
		inputs["DefaultSpec"+map[bool]string{false: "", true: " rootless"}[rootless]] = b
	}
	for name, b := range inputs {
		t.Run(name, func(t *testing.T) {
			var want, got Spec
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if err := decodeSpec(b, &got); err != nil {
				t.Fatalf("decodeSpec: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-json.Unmarshal +decodeSpec):\n%s", diff)
			}
		})
	}
}

// TestUnmarshalSpecLikeUnmarshal: what decodeSpec reads comes out as
// json.Unmarshal's, and what it refuses (a name in other letter case or
// given twice, which encoding/json matches or merges; a fraction; an
// opaque map; a number that is not JSON) goes to json.Unmarshal, errors
// included.
func TestUnmarshalSpecLikeUnmarshal(t *testing.T) {
	const base = `"ociVersion":"1.0.2","root":{"path":"rootfs"}`
	for _, tt := range []struct {
		name, in string
		plain    bool
	}{
		{"minimal", `{` + base + `}`, true},
		{"nulls", `{` + base + `,"process":null,"mounts":null,"hooks":null,"annotations":null,"linux":null,"hostname":null}`, true},
		{"empty lists and maps", `{` + base + `,"mounts":[],"annotations":{},"linux":{"namespaces":[],"sysctl":{},"resources":{"devices":[]}}}`, true},
		{"null elements", `{` + base + `,"mounts":[null],"process":{"cwd":"/","args":["a",null],"user":{"additionalGids":[null,5]}},"annotations":{"k":null}}`, true},
		{"unknown names", `{` + base + `,"vm":{"hypervisor":{"path":"/x"}},"linux":{"intelRdt":{"closID":"a"},"namespaces":[{"type":"pid","x":1}]}}`, true},
		{"pointers", `{` + base + `,"process":{"cwd":"/","oomScoreAdj":-500,"user":{"uid":1,"gid":2,"umask":18}},"linux":{"resources":{"memory":{"limit":-1,"swappiness":0,"disableOOMKiller":false},"cpu":{"quota":-1,"cpus":"0-1"},"pids":{"limit":10}}}}`, true},
		{"name in other case", `{` + base + `,"Hostname":"h"}`, false},
		{"nested name in other case", `{` + base + `,"process":{"CWD":"/x","cwd":"/"}}`, false},
		{"name given twice", `{` + base + `,"process":{"env":["A=1"]},"process":{"cwd":"/"}}`, false},
		{"fraction", `{` + base + `,"process":{"cwd":"/","user":{"uid":1.0}}}`, false},
		{"opaque map", `{` + base + `,"linux":{"resources":{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":10}]}}}}`, false},
		{"leading zero", `{` + base + `,"process":{"cwd":"/","user":{"uid":01}}}`, false},
		{"negative uid", `{` + base + `,"process":{"cwd":"/","user":{"uid":-1}}}`, false},
		{"string for a number", `{` + base + `,"linux":{"resources":{"pids":{"limit":"10"}}}}`, false},
		{"not an object", `[]`, false},
		{"null", `null`, false},
		{"cut short", `{"ociVersion":`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.in)
			var fast Spec
			err := decodeSpec(b, &fast)
			if (err == nil) != tt.plain {
				t.Errorf("decodeSpec: error %v, want it read: %v", err, tt.plain)
			}
			if err != nil && !errors.Is(err, plainjson.ErrNotPlain) {
				t.Errorf("decodeSpec: %v, want ErrNotPlain", err)
			}
			var want, got Spec
			wantErr := json.Unmarshal(b, &want)
			err = unmarshalSpec(b, &got)
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("unmarshalSpec: error %v, json.Unmarshal's %v", err, wantErr)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-json.Unmarshal +unmarshalSpec):\n%s", diff)
			}
		})
	}
}

// BenchmarkParse is podman's config.json parsed, warm.
func BenchmarkParse(b *testing.B) {
	in, err := os.ReadFile("testdata/podman-config.json")
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if _, err := Parse("config.json", in); err != nil {
			b.Fatal(err)
		}
	}
}
