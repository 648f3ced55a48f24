package lifecycle

import "testing"

// TestIsPageSize checks the hand-written check against the rule it
// replaced, ^[1-9][0-9]*[KMG]B$, at its edges.
func TestIsPageSize(t *testing.T) {
	for s, want := range map[string]bool{
		"2MB": true, "1GB": true, "64KB": true, "16384KB": true,
		"": false, "MB": false, "0MB": false, "02MB": false, "2M": false, "2mB": false,
		"2TB": false, "2 MB": false, "2MBB": false, "1x0KB": false, "2B": false,
	} {
		if got := isPageSize(s); got != want {
			t.Errorf("isPageSize(%q) = %v, want %v", s, got, want)
		}
	}
}
