package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"box/final/internal/golden"
	"box/final/internal/narrate"
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

// TestShortenLowers names the layers by their short links only when
// their paths do not fit in the page mount(2) copies, makes no link
// itself, and refuses when even the short names do not fit.
func TestShortenLowers(t *testing.T) {
	long := func(n int) (dirs, names []string) {
		for i := 0; i < n; i++ {
			hex := strings.Repeat(strconv.Itoa(i%10), 64)
			dirs = append(dirs, "/var/lib/box/layers/sha256/"+hex)
			names = append(names, shortName("sha256:"+hex))
		}
		return dirs, names
	}
	tests := []struct {
		name      string
		layers    int
		wantShort bool
		wantErr   string
	}{
		{name: "few layers keep their paths", layers: 3},
		{name: "many layers go by short names", layers: 70, wantShort: true},
		{name: "too many even for short names", layers: 1000, wantErr: "too many for one overlay mount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dirs, names := long(tt.layers)
			o := overlayMount{lower: dirs, upper: dir + "/upper", work: dir + "/work"}
			err := o.shortenLowers(dir, names)
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
				t.Fatalf("short names = %v, want %v (options %d bytes)", short, tt.wantShort, len(o.options()))
			}
			if len(o.options()) > maxMountData {
				t.Errorf("options of %d bytes do not fit in %d", len(o.options()), maxMountData)
			}
			if tt.wantShort && o.lower[1] != strings.Repeat("1", shortLen) {
				t.Errorf("lower[1] = %q, want the second layer's short name", o.lower[1])
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("shortenLowers made %v: the links are the store's", entries)
			}
		})
	}
}

// fakeLayer puts an empty layer in the store, with its short link, as
// AddLayer would.
func fakeLayer(t *testing.T, s *Store, digest string) {
	t.Helper()
	if err := os.MkdirAll(s.LayerDir(digest), 0o755); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(layerInfo{Size: 1024})
	if err := os.WriteFile(s.LayerDir(digest)+".json", data, 0o600); err != nil {
		t.Fatal(err)
	}
	fakeLink(t, s, digest, nil)
}

// fakeCopy puts an empty copy of a layer for m in the store, with its
// short link, as Mount would.
func fakeCopy(t *testing.T, s *Store, digest string, m *state.IDMap) {
	t.Helper()
	if err := os.MkdirAll(s.shiftedLayerDir(digest, *m), 0o755); err != nil {
		t.Fatal(err)
	}
	fakeLink(t, s, digest, m)
}

func fakeLink(t *testing.T, s *Store, digest string, m *state.IDMap) {
	t.Helper()
	if err := os.MkdirAll(s.linkSet(m), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(linkTarget(digest, m), s.linkPath(digest, m)); err != nil {
		t.Fatal(err)
	}
}

// digestsOf are n layer digests whose short names differ.
func digestsOf(n int) []string {
	var digests []string
	for i := 0; i < n; i++ {
		digests = append(digests, "sha256:"+strings.Repeat(fmt.Sprintf("%02x", 0xaa+i), 32))
	}
	return digests
}

// failFirst is a recorder that fails the first call starting with
// prefix with err, as the kernel fails a mount whose lower dir is gone,
// and lets every other call succeed.
type failFirst struct {
	prefix string
	err    error
	failed bool
}

func (f *failFirst) Record(call string) (int, error) {
	if !f.failed && strings.HasPrefix(call, f.prefix) {
		f.failed = true
		return -1, f.err
	}
	return 0, nil
}

// TestMountCalls records what mounting and removing a container's root
// ask of the kernel, and compares it with the golden file. The calls are
// only recorded: the container's dir is made by the test, as mkdir would
// have, so that Remove finds something to remove. The store's layers are
// empty dirs the test makes; what is there before decides what Mount
// makes: nothing per layer when every layer, copy and link is there,
// however many layers; the copies and their links on an image's first
// run in an id range; after a mount that fails with ENOENT, what is
// missing, or one line saying which layer is gone and how to get it back.
func TestMountCalls(t *testing.T) {
	requireRoot(t) // the dirs are given to root, or to a user namespace's root
	userns := &state.IDMap{HostID: 100000, Size: 65536}
	for _, tt := range []struct {
		name    string
		m       *state.IDMap
		layers  int
		prepare func(t *testing.T, s *Store, digests []string)
		fail    string // the prefix of the call that fails with ENOENT once
		wantErr string
	}{
		{name: "mount", layers: 2},
		{name: "mount-userns", m: userns, layers: 2},
		{name: "mount-64-userns", m: userns, layers: 64, prepare: func(t *testing.T, s *Store, digests []string) {
			for _, d := range digests {
				fakeCopy(t, s, d, userns)
			}
		}},
		{name: "mount-64", layers: 64},
		{name: "mount-link-missing", layers: 64, fail: `mount("overlay"`, prepare: func(t *testing.T, s *Store, digests []string) {
			// A runtime killed between storing the layer and linking it.
			if err := os.Remove(s.linkPath(digests[5], nil)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "mount-copy-missing", m: userns, layers: 3, fail: `mount("overlay"`, prepare: func(t *testing.T, s *Store, digests []string) {
			// The top layer's copy is there: another image has it.
			fakeCopy(t, s, digests[2], userns)
		}},
		{name: "mount-layer-missing", layers: 2, fail: `mount("overlay"`, wantErr: "missing from the store STORE; load the image again", prepare: func(t *testing.T, s *Store, digests []string) {
			if err := os.Remove(s.LayerDir(digests[0])); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Init(); err != nil {
				t.Fatal(err)
			}
			digests := digestsOf(tt.layers)
			for _, d := range digests {
				fakeLayer(t, s, d)
			}
			if tt.prepare != nil {
				tt.prepare(t, s, digests)
			}
			r := s.NewRoot()
			var buf bytes.Buffer
			narrate.Setup(true, &buf, false)
			restore := sys.SetRecorder(&failFirst{prefix: "no call", err: syscall.ENOENT})
			if tt.fail != "" {
				restore()
				restore = sys.SetRecorder(&failFirst{prefix: tt.fail, err: syscall.ENOENT})
			}
			err = r.Mount(digests, tt.m, "/run/box/containers/test")
			if err == nil {
				if err = os.Mkdir(r.Dir(), 0o700); err == nil {
					err = r.Remove()
				}
			}
			restore()
			narrate.Setup(false, nil, false)
			out := buf.String()
			if err != nil {
				msg := strings.ReplaceAll(err.Error(), s.Dir(), "STORE")
				if tt.wantErr == "" || !strings.Contains(msg, tt.wantErr) || strings.Contains(msg, "\n") {
					t.Fatalf("Mount: %v, want one line with %q", msg, tt.wantErr)
				}
				out += "error: " + msg + "\n"
			} else if tt.wantErr != "" {
				t.Fatalf("Mount succeeded, want %q", tt.wantErr)
			}
			out = strings.ReplaceAll(out, s.Dir(), "STORE")
			if cwd, err := os.Getwd(); err == nil {
				out = strings.ReplaceAll(out, `chdir("`+cwd+`")`, `chdir("CWD")`)
			}
			out = regexp.MustCompile(`tmp/[0-9]+-[0-9]+-([a-z]+)-[0-9a-f]{12}`).ReplaceAllString(out, "tmp/PID-START-$1-RAND")
			out = regexp.MustCompile(`containers/[0-9a-f]{16}`).ReplaceAllString(out, "containers/MOUNTID")
			out = regexp.MustCompile(`options would be [0-9]+ bytes`).ReplaceAllString(out, "options would be N bytes") // the temp dir's length
			golden.Compare(t, tt.name, out)
			if strings.Count(out, "\n") > 40 {
				t.Errorf("%d lines of narration: more than a mount takes", strings.Count(out, "\n"))
			}
		})
	}
}
