package runinit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvValue is the value of key in env, or "".
func EnvValue(env []string, key string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, key+"="); ok {
			return v
		}
	}
	return ""
}

// FindCommand finds name as the shell would inside a container whose root
// is root: in path, unless it holds a "/". Lstat is enough: a busybox
// applet is a symlink that only resolves inside the container. box run
// checks with it before it starts anything, the init once it is inside.
func FindCommand(root, name, path string) (string, error) {
	if path == "" {
		path = DefaultPath
	}
	if strings.Contains(name, "/") {
		if _, err := os.Lstat(filepath.Join(root, name)); err != nil {
			return "", fmt.Errorf("command %s not found in the container (rootfs %s)", name, root)
		}
		return name, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if _, err := os.Lstat(filepath.Join(root, dir, name)); err == nil {
			return filepath.Join(dir, name), nil
		}
	}
	return "", fmt.Errorf("command %q not found in the container (rootfs %s, PATH %s)", name, root, path)
}
