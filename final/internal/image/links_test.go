package image

import (
	"os"
	"strings"
	"testing"

	"box/final/internal/state"
)

// TestAddLink makes a layer's short link once, refuses a layer whose
// digest begins as a stored one's, replaces a link whose layer is gone,
// and removes only the links that name the layer being deleted.
func TestAddLink(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	a := "sha256:" + strings.Repeat("ab", 32)
	b := "sha256:" + strings.Repeat("ab", 8) + strings.Repeat("cd", 24) // the same first 16 digits
	for _, d := range []string{a, b} {
		if err := os.MkdirAll(s.LayerDir(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	target := func(d string) string {
		got, err := os.Readlink(s.linkPath(d, nil))
		if err != nil {
			return err.Error()
		}
		return got
	}
	if made, err := s.addLink(a, nil); !made || err != nil {
		t.Fatalf("first addLink = %v, %v; want a link made", made, err)
	}
	if made, err := s.addLink(a, nil); made || err != nil {
		t.Fatalf("second addLink = %v, %v; want nothing to do", made, err)
	}
	if _, err := s.addLink(b, nil); err == nil || !strings.Contains(err.Error(), "layer "+a+" has the same first 16 hex digits") {
		t.Fatalf("addLink of a digest that begins as a stored one's: %v", err)
	}
	if s.linkTaken(b, nil) != a {
		t.Errorf("linkTaken(b) = %q, want a", s.linkTaken(b, nil))
	}
	if got := target(a); got != "../../layers/sha256/"+strings.TrimPrefix(a, "sha256:") {
		t.Errorf("a's link says %q", got)
	}
	// b's removal leaves a's link alone.
	if err := s.removeLinks(b, nil); err != nil || target(a) != linkTarget(a, nil) {
		t.Errorf("removeLinks(b) = %v, and a's link says %q", err, target(a))
	}
	// Once a is gone, its link names nothing, and b may take the name.
	if err := os.RemoveAll(s.LayerDir(a)); err != nil {
		t.Fatal(err)
	}
	if made, err := s.addLink(b, nil); !made || err != nil || target(b) != linkTarget(b, nil) {
		t.Errorf("addLink(b) over a link to nothing = %v, %v, says %q", made, err, target(b))
	}
	// Copies for an id range have links of their own.
	m := &state.IDMap{HostID: 100000, Size: 65536}
	if err := os.MkdirAll(s.shiftedLayerDir(b, *m), 0o755); err != nil {
		t.Fatal(err)
	}
	if made, err := s.addLink(b, m); !made || err != nil {
		t.Fatalf("addLink of a copy = %v, %v", made, err)
	}
	if err := s.removeLinks(b, []string{"100000-65536", "not-a-range"}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{s.linkPath(b, nil), s.linkPath(b, m)} {
		if _, err := os.Lstat(l); err == nil {
			t.Errorf("%s is still there after removeLinks", l)
		}
	}
}
