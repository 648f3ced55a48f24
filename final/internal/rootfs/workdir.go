package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"box/final/internal/narrate"
	"box/final/internal/sys"
)

// MakeWorkdir creates the working directory of the command, inside the
// container (after pivot_root, so a symlink on the way resolves inside the
// container's root, never the host's), as docker does for -w.
func MakeWorkdir(dir string) error {
	if dir == "" || dir == "/" {
		return nil
	}
	p := "/"
	explained := false
	for _, part := range strings.Split(strings.TrimPrefix(filepath.Clean(dir), "/"), "/") {
		p = filepath.Join(p, part)
		if info, err := os.Stat(p); err == nil {
			if !info.IsDir() {
				return fmt.Errorf("working directory %s: %s is not a directory", dir, p)
			}
			continue
		}
		if !explained {
			narrate.Explain(narrate.Mount, "Create the working directory %s, inside the new root.", dir)
			explained = true
		}
		if err := sys.Mkdir(p, 0o755); err != nil {
			return fmt.Errorf("working directory %s: %w", dir, err)
		}
	}
	return nil
}
