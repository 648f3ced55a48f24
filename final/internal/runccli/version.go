package runccli

// version.go is box-runc --version, in runc's format: a first line
// "NAME version X" (what engines log and the bench's header shows), then
// "key: value" lines.

import (
	"runtime"
	"runtime/debug"
	"strings"

	"box/final/internal/oci"
)

// Version is the text box-runc --version prints. box has no release
// numbers: X is "dev", and the commit when the build recorded one (go
// build -buildvcs).
func Version() string {
	version, commit := "dev", ""
	if info, ok := debug.ReadBuildInfo(); ok {
		dirty := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if commit != "" {
			version += "+" + commit[:min(12, len(commit))]
			if dirty {
				version += "-dirty"
			}
		}
	}
	var b strings.Builder
	b.WriteString("box-runc version " + version + "\n")
	if commit != "" {
		b.WriteString("commit: " + commit + "\n")
	}
	b.WriteString("spec: " + oci.Version + "\n")
	b.WriteString("go: " + runtime.Version())
	return b.String()
}
