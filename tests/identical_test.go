package tests

import (
	"bytes"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// stepChange is what a step does to the files of the step before it.
type stepChange struct {
	changed []string // files it edits
	added   []string // files it adds
}

// stepChanges lists, per step, the files it touches; every other file must
// be a byte-identical copy of the previous step's, so that diff -ru between
// two steps shows only the chapter. A step's README.md is its own text and
// is not compared. Keep this table honest: the test also fails for a file
// listed here that did not change.
var stepChanges = map[string]stepChange{
	"02-pid-ns": {
		changed: []string{"main.go", "child.go", "narrate.go", "narrate_test.go"},
		added:   []string{"proc.go"},
	},
	"03-mount-ns": {
		changed: []string{"main.go", "child.go", "narrate.go", "proc.go"},
		added:   []string{"mounts.go", "volume_test.go"},
	},
	"04-uts-net-ipc": {
		changed: []string{"main.go", "child.go", "narrate.go"},
		added:   []string{"uts.go", "uts_test.go", "net.go", "net_test.go"},
	},
	"05-user-ns": {
		changed: []string{"main.go", "child.go", "narrate.go", "mounts.go"},
		added:   []string{"userns.go", "userns_test.go"},
	},
	"06-cgroups": {
		changed: []string{"main.go", "narrate.go", "net.go"},
		added:   []string{"cgroup.go", "cgroup_test.go"},
	},
	"07-layers": {
		changed: []string{"main.go", "child.go", "narrate.go", "net.go"},
		added:   []string{"image.go", "image_test.go", "overlay.go", "overlay_test.go"},
	},
}

// TestUnchangedFilesIdentical compares each step with the one before.
func TestUnchangedFilesIdentical(t *testing.T) {
	steps := numberedSteps()
	for i := 1; i < len(steps); i++ {
		prev, step := steps[i-1], steps[i]
		t.Run(step, func(t *testing.T) {
			change, ok := stepChanges[step]
			if !ok {
				t.Fatalf("%s is not in stepChanges in tests/identical_test.go: list the files it changes and adds", step)
			}
			prevFiles, stepFiles := stepFiles(t, prev), stepFiles(t, step)
			changed, added := toSet(change.changed), toSet(change.added)
			for name := range added {
				if _, ok := stepFiles[name]; !ok {
					t.Errorf("%s is listed as added by %s, but %s has no such file", name, step, step)
				}
				if _, ok := prevFiles[name]; ok {
					t.Errorf("%s is listed as added by %s, but %s already has it: list it as changed", name, step, prev)
				}
			}
			for _, name := range sortedKeys(stepFiles) {
				old, inPrev := prevFiles[name]
				switch {
				case !inPrev && !added[name]:
					t.Errorf("%s/%s is new; list it as added in stepChanges", step, name)
				case !inPrev:
				case changed[name] && bytes.Equal(old, stepFiles[name]):
					t.Errorf("%s is listed as changed by %s, but it is identical to %s's; remove it from the list", name, step, prev)
				case !changed[name] && !bytes.Equal(old, stepFiles[name]):
					t.Errorf("%s/%s differs from %s/%s; copy it unchanged, or list it as changed in stepChanges", step, name, prev, name)
				}
			}
			for name := range changed {
				if _, ok := prevFiles[name]; !ok {
					t.Errorf("%s is listed as changed by %s, but %s has no such file", name, step, prev)
				}
			}
			for _, name := range sortedKeys(prevFiles) {
				if _, ok := stepFiles[name]; !ok {
					t.Errorf("%s/%s is gone in %s; every step keeps the files of the one before", prev, name, step)
				}
			}
		})
	}
}

// numberedSteps are the steps without final, which is not a copy of any.
func numberedSteps() []string {
	var steps []string
	for _, s := range harness.steps {
		if s != finalStep {
			steps = append(steps, s)
		}
	}
	return steps
}

// stepFiles reads every file of a step except its README, by relative path.
func stepFiles(t *testing.T, step string) map[string][]byte {
	t.Helper()
	dir := filepath.Join(harness.repo, stepDir(step))
	files := map[string][]byte{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "README.md" {
			return nil
		}
		b, err := os.ReadFile(p)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func toSet(names []string) map[string]bool {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return set
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// allowedImports are what a step may import besides the standard library;
// go-cmp only in tests.
var allowedImports = map[string]bool{
	"github.com/alecthomas/kong": true,
	"golang.org/x/sys/unix":      true,
	"github.com/fatih/color":     true,
}

// TestStepImports checks that each step stands alone: standard library,
// kong, x/sys/unix and color, and go-cmp in tests; never another step or
// a box/... package.
func TestStepImports(t *testing.T) {
	for _, step := range numberedSteps() {
		t.Run(step, func(t *testing.T) {
			files, err := filepath.Glob(filepath.Join(harness.repo, stepDir(step), "*.go"))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
				if err != nil {
					t.Fatal(err)
				}
				for _, imp := range parsed.Imports {
					path, _ := strconv.Unquote(imp.Path.Value)
					stdlib := !strings.Contains(strings.Split(path, "/")[0], ".")
					isTest := strings.HasSuffix(f, "_test.go")
					switch {
					case path == "box" || strings.HasPrefix(path, "box/"):
						t.Errorf("%s imports %s: a step never imports another step or a box package", filepath.Base(f), path)
					case stdlib, allowedImports[path], isTest && path == "github.com/google/go-cmp/cmp":
					default:
						t.Errorf("%s imports %s: a step imports only the standard library, kong, x/sys/unix and color (and go-cmp in tests)", filepath.Base(f), path)
					}
				}
			}
		})
	}
}
