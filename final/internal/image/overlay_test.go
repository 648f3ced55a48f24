package image

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"box/final/internal/golden"
	"box/final/internal/state"
	"box/final/internal/sys"
)

func TestOverlayOptions(t *testing.T) {
	o := overlayMount{lower: []string{"/s/top", "/s/bottom"}, upper: "/c/upper", work: "/c/work"}
	want := "lowerdir=/s/top:/s/bottom,upperdir=/c/upper,workdir=/c/work,redirect_dir=off,metacopy=off"
	if got := o.options(); got != want {
		t.Errorf("options = %q, want %q", got, want)
	}
}

// TestShortenLowers names the layers by short links only when their
// paths do not fit in the page mount(2) copies, and refuses when even the
// links do not.
func TestShortenLowers(t *testing.T) {
	long := func(n int) []string {
		var dirs []string
		for i := 0; i < n; i++ {
			dirs = append(dirs, "/var/lib/box/layers/sha256/"+strings.Repeat(strconv.Itoa(i%10), 64))
		}
		return dirs
	}
	tests := []struct {
		name      string
		layers    int
		wantShort bool
		wantErr   string
	}{
		{name: "few layers keep their paths", layers: 3},
		{name: "many layers get links", layers: 70, wantShort: true},
		{name: "too many even for links", layers: 1000, wantErr: "too many for one overlay mount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := overlayMount{lower: long(tt.layers), upper: dir + "/upper", work: dir + "/work"}
			err := o.shortenLowers(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("shortenLowers error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if short := o.dir != ""; short != tt.wantShort {
				t.Fatalf("short links = %v, want %v (options %d bytes)", short, tt.wantShort, len(o.options()))
			}
			if len(o.options()) > maxMountData {
				t.Errorf("options of %d bytes do not fit in %d", len(o.options()), maxMountData)
			}
			if tt.wantShort {
				if o.lower[1] != "l/1" {
					t.Errorf("lower[1] = %q, want l/1", o.lower[1])
				}
				if target, err := os.Readlink(filepath.Join(dir, "l", "1")); err != nil || target != long(2)[1] {
					t.Errorf("l/1 -> %q, %v; want the second layer", target, err)
				}
			}
		})
	}
}

// fakeLayer puts an empty layer in the store, as AddLayer would.
func fakeLayer(t *testing.T, s *Store, digest string) {
	t.Helper()
	if err := os.MkdirAll(s.LayerDir(digest), 0o755); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(layerInfo{Size: 1024})
	if err := os.WriteFile(s.LayerDir(digest)+".json", data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMountCalls records what mounting and removing a container's root
// ask of the kernel, and compares it with the golden file. The calls are
// only recorded: the container's dir is made by the test, as mkdir would
// have, so that Remove finds something to remove.
func TestMountCalls(t *testing.T) {
	requireRoot(t) // the dirs are given to root, or to a user namespace's root
	for _, tt := range []struct {
		name string
		m    *state.IDMap
	}{{"mount", nil}, {"mount-userns", &state.IDMap{HostID: 100000, Size: 65536}}} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Init(); err != nil {
				t.Fatal(err)
			}
			digests := []string{"sha256:" + strings.Repeat("a", 64), "sha256:" + strings.Repeat("b", 64)}
			for _, d := range digests {
				fakeLayer(t, s, d)
			}
			r := s.NewRoot()
			out, err := sys.RecordNarration(&sys.Script{}, func() error {
				if err := r.Mount(digests, tt.m, "/run/box/containers/test"); err != nil {
					return err
				}
				if err := os.Mkdir(r.Dir(), 0o700); err != nil {
					return err
				}
				return r.Remove()
			})
			if err != nil {
				t.Fatal(err)
			}
			out = strings.ReplaceAll(out, s.Dir(), "STORE")
			out = regexp.MustCompile(`tmp/[0-9]+-[0-9]+-([a-z]+)-[0-9a-f]{12}`).ReplaceAllString(out, "tmp/PID-START-$1-RAND")
			out = regexp.MustCompile(`containers/[0-9a-f]{16}`).ReplaceAllString(out, "containers/MOUNTID")
			golden.Compare(t, tt.name, out)
		})
	}
}
