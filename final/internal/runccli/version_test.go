package runccli

import (
	"strings"
	"testing"
)

// TestOCIVersionLikeRunc checks that box-runc --version starts as runc's
// does, "NAME version X", the line engines log and the bench's header
// shows, and names the spec version.
func TestOCIVersionLikeRunc(t *testing.T) {
	lines := strings.Split(Version(), "\n")
	name, version, ok := strings.Cut(lines[0], " version ")
	if !ok || name != "box-runc" || version == "" || strings.Contains(version, " ") {
		t.Errorf("first line %q: want \"box-runc version X\"", lines[0])
	}
	if !strings.Contains(Version(), "\nspec: 1.") {
		t.Errorf("no spec line in %q", Version())
	}
}
