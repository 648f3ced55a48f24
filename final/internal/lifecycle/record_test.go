package lifecycle

import (
	"encoding/json"
	"testing"
	"time"

	"box/final/internal/cgroups"
	"box/final/internal/oci"
	"box/final/internal/plainjson"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// records are containers as create records them, and some it never
// writes, for the hand-written codec to agree with encoding/json on.
func records() []*Container {
	created := time.Date(2026, 12, 4, 10, 30, 1, 123456789, time.UTC)
	return []*Container{
		{},
		{ID: "a", Bundle: "/b", Rootfs: "/b/rootfs", Pid: 42, PidStart: 1234567, Created: created,
			Namespaces: []string{"pid", "net", "ipc", "uts", "mnt"}},
		{ID: "podman-1", Bundle: "/var/lib/x", Rootfs: "/r", Pid: 1, PidStart: 1<<63 + 5, Created: created.Add(-time.Hour),
			Annotations: map[string]string{"io.podman.annotations.autoremove": "FALSE", "b": "", "a": `"q" \ <tag> & é 😀 ` + "\u2028\n\t\b\f\x01"},
			Cgroup: &cgroups.Cgroup{Version: 1, Dirs: []cgroups.Dir{
				{Path: "/sys/fs/cgroup/cpu/box-runc-a", Controllers: []string{"cpu"}},
				{Path: "/sys/fs/cgroup/memory/x y/box-runc-a", Controllers: nil},
				{Path: "/sys/fs/cgroup/pids/box-runc-a", Controllers: []string{}},
			}},
			NoProcess: true, Namespaces: []string{}, ExplainLog: "/tmp/explain log.txt"},
		{ID: "v2", Cgroup: &cgroups.Cgroup{Version: 2}, Annotations: map[string]string{}},
		{ID: "v2-empty", Cgroup: &cgroups.Cgroup{Version: 2, Dirs: []cgroups.Dir{}}},
		{ID: "hooked", Hooks: &oci.Hooks{Poststop: []oci.Hook{{Path: "/bin/true"}}}},
		{ID: "bad utf-8 \xff", Bundle: "\xfe"},
	}
}

// TestRecordCodecAgreesWithEncodingJSON checks that what encodeRecord
// writes, encoding/json reads back as the container, and that what
// encoding/json writes, decodeRecord reads as encoding/json does.
func TestRecordCodecAgreesWithEncodingJSON(t *testing.T) {
	opts := []cmp.Option{cmp.AllowUnexported(Container{}), cmpopts.IgnoreUnexported(cgroups.Cgroup{})}
	for _, c := range records() {
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var fromJSON Container
		if err := json.Unmarshal(want, &fromJSON); err != nil {
			t.Fatal(err)
		}
		got, err := encodeRecord(c)
		if err != nil {
			t.Fatalf("%s: encodeRecord: %v", c.ID, err)
		}
		if string(got) != string(want) {
			t.Errorf("encodeRecord wrote\n%s\nencoding/json writes\n%s", got, want)
		}
		var back Container
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%s: encoding/json cannot read %s: %v", c.ID, got, err)
		}
		if diff := cmp.Diff(fromJSON, back, opts...); diff != "" {
			t.Errorf("%s: encodeRecord, read by encoding/json (-want +got):\n%s", c.ID, diff)
		}
		var decoded Container
		if err := decodeRecord(want, &decoded); err != nil {
			t.Fatalf("%s: decodeRecord: %v", c.ID, err)
		}
		if diff := cmp.Diff(fromJSON, decoded, opts...); diff != "" {
			t.Errorf("%s: decodeRecord (-encoding/json +decodeRecord):\n%s", c.ID, diff)
		}
	}
}

// TestRecordDecodeByHand checks that the records create writes are read
// by hand, and what it does not write goes to encoding/json, with its
// result: other spacing, escapes it does not write, names in another
// case, unknown names, numbers it does not read, and errors.
func TestRecordDecodeByHand(t *testing.T) {
	for _, c := range records()[:5] {
		b, _ := encodeRecord(c)
		var fast Container
		if err := (recordReader{plainjson.NewReader(b)}).container(&fast); err != nil {
			t.Errorf("%s: not read by hand: %v\n%s", c.ID, err, b)
		}
	}
	for _, text := range []string{
		` { "id" : "a\/b\u00e9\ud83d\ude00" , "pid" : 7 , "namespaces" : null } `,
		`{"ID":"upper","Pid":3}`,
		`{"id":"x","later":{"a":[1,2,{"b":null}]}}`,
		`{"id":"x","pid":1.0}`,
		`{"id":"x","pid":-3,"pidStart":0}`,
		`{"id":"x","created":"2026-12-04T10:30:01Z"}`,
		`{"id":"x","created":null}`,
		`{"id":"x","cgroup":null,"annotations":null}`,
		`{"id":"x","spec":{"ociVersion":"1.0.2"}}`,
		`{"id":"x"`,
		`{"id":"x"} {}`,
		`{"id":"\ud83d"}`,
		`[]`,
	} {
		var want, got Container
		wantErr := json.Unmarshal([]byte(text), &want)
		gotErr := decodeRecord([]byte(text), &got)
		if (wantErr == nil) != (gotErr == nil) {
			t.Errorf("%s: decodeRecord error %v, encoding/json's %v", text, gotErr, wantErr)
			continue
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(Container{}), cmpopts.IgnoreUnexported(cgroups.Cgroup{})); wantErr == nil && diff != "" {
			t.Errorf("%s (-encoding/json +decodeRecord):\n%s", text, diff)
		}
	}
}
