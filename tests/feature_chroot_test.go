package tests

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Features of the chroot step: the command sees the rootfs as its root.

func init() {
	addFeatures(feature{name: "root is the rootfs", since: "01-chroot", check: rootIsRootfs})
}

// rootIsRootfs lists / inside and reads the rootfs marker: both must be
// what the rootfs directory holds on the host.
func rootIsRootfs(t *testing.T, step string) bool {
	rootfs := sharedRootfs(t)
	r := runIn(t, step, rootfs, "sh", "-c", "cat /etc/box-rootfs; echo ---; ls -A /")
	if r.code != 0 {
		t.Fatalf("container did not run:\n%s", r)
	}
	marker, inside, _ := strings.Cut(r.stdout, "---\n")
	wantMarker, err := os.ReadFile(rootfs + "/etc/box-rootfs")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	var wantNames []string
	for _, e := range entries {
		wantNames = append(wantNames, e.Name())
	}
	if diff := cmp.Diff(wantNames, strings.Fields(inside)); diff != "" {
		t.Logf("ls / inside differs from the rootfs (-rootfs +inside):\n%s", diff)
		return false
	}
	if marker != string(wantMarker) {
		t.Logf("/etc/box-rootfs inside is %q, want %q", marker, wantMarker)
		return false
	}
	return true
}
