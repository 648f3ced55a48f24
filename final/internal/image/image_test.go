package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// requireRoot skips a test that needs root (mknod of whiteouts, trusted.*
// xattrs, chown), saying why; with CI=true it fails instead.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root, and CI=true: run it as root")
	}
	t.Skip("needs root: whiteouts are device nodes, opaque dirs trusted.* xattrs")
}

func TestNormalizeName(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{in: "alpine", want: "alpine:latest"},
		{in: "alpine:3.19", want: "alpine:3.19"},
		{in: "library/alpine", want: "alpine:latest"},
		{in: "docker.io/sk/img:2", want: "sk/img:2"},
		{in: "127.0.0.1:5000/team/app", want: "127.0.0.1:5000/team/app:latest"},
		{in: "my-app_2.x/web:v1.0-rc", want: "my-app_2.x/web:v1.0-rc"},
		{in: "Alpine", wantErr: "lower-case"},
		{in: "", wantErr: "lower-case"},
		{in: "a:b:c", wantErr: "lower-case"},
		{in: "../up", wantErr: "lower-case"},
		{in: "<build step 1>", wantErr: "lower-case"},
	}
	for _, tt := range tests {
		got, err := NormalizeName(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NormalizeName(%q) = %q, %v; want an error with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestHumanSize(t *testing.T) {
	tests := map[int64]string{0: "0B", 999: "999B", 1000: "1.00kB", 2560: "2.56kB", 2140160: "2.14MB", 123456789: "123MB", 5e12: "5.00TB"}
	for in, want := range tests {
		if got := HumanSize(in); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", in, got, want)
		}
	}
}

// TestHistoryRows pairs history steps with layers, newest first; steps
// that made no layer get none, and layers without history still show.
func TestHistoryRows(t *testing.T) {
	img := Image{
		Layers: []Layer{{Digest: "sha256:a", Size: 1}, {Digest: "sha256:b", Size: 2}},
		History: []History{
			{CreatedBy: "ADD rootfs.tar /"},
			{CreatedBy: "ENV A=1", EmptyLayer: true},
			{CreatedBy: "RUN x"},
			{CreatedBy: "CMD sh", EmptyLayer: true},
		},
	}
	want := []HistoryRow{
		{CreatedBy: "CMD sh"},
		{Layer: "sha256:b", Size: 2, CreatedBy: "RUN x"},
		{CreatedBy: "ENV A=1"},
		{Layer: "sha256:a", Size: 1, CreatedBy: "ADD rootfs.tar /"},
	}
	if diff := cmp.Diff(want, img.HistoryRows()); diff != "" {
		t.Errorf("HistoryRows (-want +got):\n%s", diff)
	}
	bare := Image{Layers: []Layer{{Digest: "sha256:a"}, {Digest: "sha256:b"}}}
	if diff := cmp.Diff([]HistoryRow{{Layer: "sha256:b"}, {Layer: "sha256:a"}}, bare.HistoryRows()); diff != "" {
		t.Errorf("HistoryRows without history (-want +got):\n%s", diff)
	}
}

// TestImageID checks that an image's ID is the digest of its config, and
// changes with it.
func TestImageID(t *testing.T) {
	img := Image{Name: "x:1", Layers: []Layer{{Digest: "sha256:" + strings.Repeat("a", 64)}}, Config: Config{Cmd: []string{"sh"}}}
	if err := img.setID(); err != nil {
		t.Fatal(err)
	}
	data, _ := img.configJSON()
	if img.ID != digestOf(data) || !ValidDigest(img.ID) {
		t.Errorf("ID %s is not the digest of the config %s", img.ID, data)
	}
	other := img
	other.Config.Cmd = []string{"true"}
	if err := other.setID(); err != nil || other.ID == img.ID {
		t.Errorf("a different config kept the ID %s (%v)", other.ID, err)
	}
}

func TestClassifyEntry(t *testing.T) {
	tests := []struct {
		name       string
		kind       entryKind
		target     string
		wantErrSub string
	}{
		{name: "etc/passwd", kind: entryFile, target: "etc/passwd"},
		{name: "etc/.wh.passwd", kind: entryWhiteout, target: "etc/passwd"},
		{name: ".wh.gone", kind: entryWhiteout, target: "gone"},
		{name: "opq/.wh..wh..opq", kind: entryOpaque, target: "opq"},
		{name: ".wh..wh..opq", kind: entryOpaque, target: "."},
		{name: "x/.wh..wh.plnk", kind: entryMeta, target: "x/.wh..wh.plnk"},
		{name: "x/.wh.", wantErrSub: "must name a file"},
		{name: "x/.wh...", wantErrSub: "must name a file"},
	}
	for _, tt := range tests {
		kind, target, err := classifyEntry(tt.name)
		if tt.wantErrSub != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSub) {
				t.Errorf("classifyEntry(%q) error = %v, want %q", tt.name, err, tt.wantErrSub)
			}
			continue
		}
		if err != nil || kind != tt.kind || target != tt.target {
			t.Errorf("classifyEntry(%q) = %v, %q, %v; want %v, %q", tt.name, kind, target, err, tt.kind, tt.target)
		}
	}
	if got := whiteoutName("etc/passwd"); got != "etc/.wh.passwd" {
		t.Errorf("whiteoutName = %q", got)
	}
	if got := opaqueName("opq"); got != "opq/.wh..wh..opq" {
		t.Errorf("opaqueName = %q", got)
	}
}

func TestEntryPath(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{in: "./bin/sh", want: "bin/sh"},
		{in: "etc/", want: "etc"},
		{in: "a/../b", want: "b"},
		{in: "./", want: "."},
		{in: "/etc/passwd", wantErr: "absolute path"},
		{in: "../x", wantErr: "climbs out"},
		{in: "a/../../x", wantErr: "climbs out"},
		{in: "..", wantErr: "climbs out"},
	}
	for _, tt := range tests {
		got, err := entryPath(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("entryPath(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("entryPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestOpenRefusesBadStores(t *testing.T) {
	for _, dir := range []string{"relative", "/a,b", "/a:b", `/a\b`} {
		if _, err := Open(dir); err == nil {
			t.Errorf("Open(%q) accepted a store path the overlay options cannot carry", dir)
		}
	}
}

// TestRootOf accepts only the mount point of a container root of a
// store: Remove deletes what RootOf finds.
func TestRootOf(t *testing.T) {
	good := "/var/lib/box/containers/0123456789abcdef/rootfs"
	r, err := RootOf(good)
	if err != nil || r.Dir() != filepath.Dir(good) || r.store.Dir() != "/var/lib/box" {
		t.Errorf("RootOf(%q) = %+v, %v", good, r, err)
	}
	for _, bad := range []string{"/", "/var/lib/box", "/srv/rootfs", "/var/lib/box/containers/../../etc/rootfs",
		"/var/lib/box/containers/0123456789abcdef/rootfs/..", "relative/containers/0123456789abcdef/rootfs"} {
		if r, err := RootOf(bad); err == nil {
			t.Errorf("RootOf(%q) = %+v; want a refusal", bad, r)
		}
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	tests := map[string]string{`/a\040b`: "/a b", `/t\011x\134y`: "/t\tx\\y", `/plain`: "/plain", `/bad\9x`: `/bad\9x`}
	for in, want := range tests {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}
