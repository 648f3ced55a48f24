package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A feature every step has: files the runtime inherited open do not reach
// the container's command.

func init() {
	addFeatures(feature{name: "inherited files stay out", since: "01-chroot", check: inheritedFilesStayOut})
}

// inheritedFileFD is where the runtime finds the host file this test leaves
// open for it; a shell in the container reaches that number with >&9.
const inheritedFileFD = 9

// inheritedFilesStayOut starts the runtime with a host file open, without
// close-on-exec, at fd 9, as a careless parent would, and has the container
// write to fd 9. The file on the host tells whether the write got through.
func inheritedFilesStayOut(t *testing.T, step string) bool {
	extra, written := inheritedCanary(t)
	r := runWith(t, step, runOptions{extraFiles: extra}, runArgs(sharedRootfs(t), nil, "sh", "-c", writeInheritedFile)...)
	if r.code != 0 {
		t.Fatalf("container did not run:\n%s", r)
	}
	got := written()
	if said := strings.TrimSpace(r.stdout); (got != "") != (said == "written") {
		t.Fatalf("the host file holds %q but the container said %q", got, said)
	}
	if got != "" {
		t.Logf("the container wrote %q to a host file through fd %d", got, inheritedFileFD)
	}
	return got == ""
}

// writeInheritedFile is a shell script that writes to fd 9 and says
// whether it could.
const writeInheritedFile = "if echo through the inherited file >&9; then echo written; else echo refused; fi"

// inheritedCanary makes a host file and returns ExtraFiles that leave it
// open at inheritedFileFD, and a function reading what was written to it.
func inheritedCanary(t *testing.T) (extra []*os.File, written func() string) {
	t.Helper()
	canary := filepath.Join(t.TempDir(), "canary")
	f, err := os.Create(canary)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	extra = make([]*os.File, inheritedFileFD-2)
	extra[inheritedFileFD-3] = f
	return extra, func() string {
		got, err := os.ReadFile(canary)
		if err != nil {
			t.Fatal(err)
		}
		return string(got)
	}
}
