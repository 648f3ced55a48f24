package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestOverlayOptions(t *testing.T) {
	tests := []struct {
		name  string
		lower []string
		want  string
	}{
		{"one layer", []string{"/s/layers/100000/sha256/aa"}, "lowerdir=/s/layers/100000/sha256/aa,upperdir=/c/upper,workdir=/c/work,userxattr"},
		{"top first", []string{"/l/top", "/l/mid", "/l/base"}, "lowerdir=/l/top:/l/mid:/l/base,upperdir=/c/upper,workdir=/c/work,userxattr"},
		{"short links", []string{"l/0", "l/1"}, "lowerdir=l/0:l/1,upperdir=/c/upper,workdir=/c/work,userxattr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, overlayOptions(tt.lower, "/c/upper", "/c/work")); diff != "" {
				t.Errorf("overlayOptions mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChooseLower(t *testing.T) {
	tests := []struct {
		layers    int
		wantShort bool
	}{
		{1, false}, {8, false}, {32, false}, {64, true}, {400, true},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.layers), func(t *testing.T) {
			dir := t.TempDir()
			c := &container{dir: dir, mount: overlayMount{Upper: dir + "/upper", Work: dir + "/work"}}
			for i := 0; i < tt.layers; i++ {
				c.layers = append(c.layers, "/var/lib/box/layers/100000/sha256/"+strings.Repeat(strconv.Itoa(i%10), 64))
			}
			if err := c.chooseLower(); err != nil {
				t.Fatal(err)
			}
			want := c.layers
			wantDir := ""
			if tt.wantShort {
				want = nil
				for i := range c.layers {
					want = append(want, "l/"+strconv.Itoa(i))
				}
				wantDir = dir
			}
			if diff := cmp.Diff(want, c.mount.Lower); diff != "" {
				t.Errorf("lower dirs (-want +got):\n%s", diff)
			}
			if c.mount.Dir != wantDir {
				t.Errorf("relative to %q, want %q", c.mount.Dir, wantDir)
			}
			if n := len(overlayOptions(c.mount.Lower, c.mount.Upper, c.mount.Work)); n > maxMountData {
				t.Errorf("options are %d bytes, more than mount(2) takes", n)
			}
			if tt.wantShort {
				target, err := os.Readlink(filepath.Join(dir, "l", "3"))
				if err != nil || target != c.layers[3] {
					t.Errorf("l/3 -> %q (%v), want %q", target, err, c.layers[3])
				}
			}
		})
	}
}

func TestChildArgs(t *testing.T) {
	var none *container
	if got := none.childArgs(); got != nil {
		t.Errorf("childArgs without an image = %q, want none", got)
	}
	c := &container{mount: overlayMount{Lower: []string{"l/0", "l/1"}, Upper: "/u", Work: "/w", Dir: "/c"}}
	want := []string{"--overlay-lower=l/0", "--overlay-lower=l/1", "--overlay-upper=/u", "--overlay-work=/w", "--overlay-dir=/c"}
	if diff := cmp.Diff(want, c.childArgs()); diff != "" {
		t.Errorf("childArgs mismatch (-want +got):\n%s", diff)
	}
}

// layerTree makes files in dir: a name ending in "/" is a directory, "/"+
// ".opq" marks a directory opaque, "!" before a name makes a whiteout.
func layerTree(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, name := range names {
		switch {
		case strings.HasPrefix(name, "!"):
			p := filepath.Join(dir, name[1:])
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := unix.Mknod(p, unix.S_IFCHR, 0); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(name, "/.opq"):
			p := filepath.Join(dir, strings.TrimSuffix(name, "/.opq"))
			os.MkdirAll(p, 0o755)
			if err := unix.Lsetxattr(p, opaqueXattr, []byte("y"), 0); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(name, "/"):
			if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
				t.Fatal(err)
			}
		default:
			p := filepath.Join(dir, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestUpperChanges(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	base, top, upper := filepath.Join(dir, "base"), filepath.Join(dir, "top"), filepath.Join(dir, "upper")
	layerTree(t, base, "etc/passwd", "etc/motd", "opt/old/file", "srv/data", "var/log/")
	// The top layer deletes /etc/motd and replaces /opt.
	layerTree(t, top, "!etc/motd", "opt/.opq", "opt/new")
	// The container: changes passwd, adds hosts, deletes srv/data, brings
	// back motd, recreates /var/log empty (opaque), writes under /opt/old
	// (which the top layer hid, so it is new).
	layerTree(t, upper, "etc/passwd", "etc/hosts", "etc/motd", "!srv/data", "var/log/.opq", "opt/old/file")
	lowers := []string{top, base}

	got, err := upperChanges(upper, lowers)
	if err != nil {
		t.Fatal(err)
	}
	want := []change{
		{Kind: 'C', Path: "/etc"},
		{Kind: 'A', Path: "/etc/hosts"},
		{Kind: 'A', Path: "/etc/motd"}, // the top layer deleted it
		{Kind: 'C', Path: "/etc/passwd"},
		{Kind: 'C', Path: "/opt"},
		{Kind: 'A', Path: "/opt/old"}, // hidden by the top layer's opaque /opt
		{Kind: 'A', Path: "/opt/old/file"},
		{Kind: 'C', Path: "/srv"},
		{Kind: 'D', Path: "/srv/data", Note: "whiteout"},
		{Kind: 'C', Path: "/var"},
		{Kind: 'C', Path: "/var/log", Note: "opaque: hides the layers' /var/log"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("upperChanges mismatch (-want +got):\n%s", diff)
	}
}

func TestModeString(t *testing.T) {
	tests := []struct {
		mode uint32
		want string
	}{
		{unix.S_IFCHR, "S_IFCHR|000"},
		{unix.S_IFCHR | 0o620, "S_IFCHR|0620"},
		{unix.S_IFIFO | 0o644, "S_IFIFO|0644"},
		{0o4755, "04755"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, modeString(tt.mode)); diff != "" {
			t.Errorf("modeString(%#o) mismatch (-want +got):\n%s", tt.mode, diff)
		}
	}
}

func TestUnescapeMountPoint(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/var/lib/box", "/var/lib/box"},
		{`/mnt/with\040space`, "/mnt/with space"},
		{`/back\134slash`, `/back\slash`},
		{`/trailing\04`, `/trailing\04`},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, unescapeMountPoint(tt.in)); diff != "" {
			t.Errorf("unescapeMountPoint(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestPlural(t *testing.T) {
	got := []string{plural(1, "layer"), plural(0, "layer"), plural(64, "layer")}
	if diff := cmp.Diff([]string{"1 layer", "0 layers", "64 layers"}, got); diff != "" {
		t.Errorf("plural mismatch (-want +got):\n%s", diff)
	}
}
