package tests

import (
	"sort"
	"strings"
	"testing"
)

// feature is one thing the runtime isolates, as the kernel reports it.
// The cumulative suite checks every feature against every step: a step
// must show each feature introduced by it or an earlier step, and must not
// yet show the features of later steps.
type feature struct {
	name  string // what a learner would check for, e.g. "command is PID 1"
	since string // the step that introduces it, e.g. "02-pid-ns"
	// check runs step's binary and reports whether the feature is there.
	// It asks the kernel (/proc, mountinfo, a file on the host), never the
	// runtime's own narration. It fails t only when it cannot tell, for
	// example when the container did not run at all.
	check func(t *testing.T, step string) bool
}

// features is the table; each feature_<topic>_test.go adds its rows with
// addFeatures from an init function.
var features []feature

// addFeatures registers features for the cumulative suite.
func addFeatures(fs ...feature) { features = append(features, fs...) }

// sortedFeatures is the table ordered as a reader meets the features: by
// the step that brings them, then by name.
func sortedFeatures(t *testing.T) []feature {
	t.Helper()
	fs := append([]feature(nil), features...)
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].since != fs[j].since {
			return fs[i].since < fs[j].since
		}
		return fs[i].name < fs[j].name
	})
	seen := map[string]bool{}
	for _, f := range fs {
		if seen[f.name] {
			t.Fatalf("feature %q is registered twice", f.name)
		}
		seen[f.name] = true
		if featureHints[f.name] == "" {
			t.Fatalf("feature %q has no hint in featureHints (tests/grade_test.go): say in one line where a learner finds what it needs", f.name)
		}
		if f.since == finalStep || !strings.HasPrefix(f.since, "0") || f.check == nil {
			t.Fatalf("feature %q: since must name a step like 02-pid-ns (got %q), and check must be set", f.name, f.since)
		}
	}
	return fs
}

// TestFeatures runs the whole table as TestFeatures/STEP/FEATURE, so
// go test -v shows the count per step.
func TestFeatures(t *testing.T) {
	requireRoot(t)
	fs := sortedFeatures(t)
	for _, step := range harness.steps {
		step := step
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			for _, f := range fs {
				f := f
				t.Run(f.name, func(t *testing.T) {
					t.Parallel()
					want := stepAtLeast(step, f.since)
					got := f.check(t, step)
					switch {
					case want && !got:
						t.Errorf("%s does not show %q, which comes with %s", step, f.name, f.since)
					case !want && got:
						t.Errorf("%s already shows %q, which comes with %s: a step must not yet show later features", step, f.name, f.since)
					}
				})
			}
		})
	}
}
