// Package golden compares test output with files in testdata/, and
// rewrites them when the tests run with -update:
//
//	go test ./final/... -update
//
// Only tests import it.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with what the tests produce")

// lockedFD is the descriptor flock(2) is narrated with: a real one (the
// lock is taken even when the calls are recorded), numbered by whatever
// else the test process has open at that moment.
var lockedFD = regexp.MustCompile(`flock\([0-9]+ `)

// Compare fails t if got differs from testdata/NAME.golden, or writes got
// there with -update. Descriptor numbers of flock lines read FD.
func Compare(t *testing.T, name, got string) {
	t.Helper()
	got = lockedFD.ReplaceAllString(got, "flock(FD ")
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file: %v (run go test with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got); if the change is right, run go test -update:\n%s", path, diff)
	}
}
