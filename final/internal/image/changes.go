package image

// changes.go reads what a container changed, as docker diff shows it. All
// of it is in the upper dir, since the layers below are never written: a
// whiteout is a deleted path, an opaque dir replaced the layers' dir, and
// any other entry was added, or changed when a layer has it too.

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Change is a path the container added, changed or deleted.
type Change struct {
	Kind byte   // 'A', 'C' or 'D', as docker diff prints them
	Path string // absolute, as the container saw it
	Note string // why, when it is not plain
}

func (c Change) String() string {
	s := string(c.Kind) + " " + c.Path
	if c.Note != "" {
		s += " (" + c.Note + ")"
	}
	return s
}

// Changes lists the changes recorded in the upper dir, in path order;
// lowers are the layer dirs, top first.
func Changes(upper string, lowers []string) ([]Change, error) {
	var changes []Change
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == upper {
			return err
		}
		rel := "/" + filepath.ToSlash(strings.TrimPrefix(p, upper+"/"))
		info, err := d.Info()
		if err != nil {
			return err
		}
		if IsWhiteout(info) {
			changes = append(changes, Change{Kind: 'D', Path: rel, Note: "whiteout"})
			return nil
		}
		ch := Change{Kind: 'A', Path: rel}
		if inLowers(rel, lowers) {
			ch.Kind = 'C'
		}
		if d.IsDir() && IsOpaque(p) {
			ch.Note = "opaque: hides the layers' " + rel
		}
		changes = append(changes, ch)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read upper dir %s: %w", upper, err)
	}
	return changes, nil
}

// inLowers tells whether the layers, top first, show a file at rel: the
// first layer that has it or deletes it decides, and an opaque dir or a
// file on the way hides everything below it.
func inLowers(rel string, lowers []string) bool {
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	for _, layer := range lowers {
		p := layer
		opaque := false
		for i, part := range parts {
			p = filepath.Join(p, part)
			info, err := os.Lstat(p)
			if err != nil {
				break // not in this layer: look below, unless an opaque dir hides it
			}
			if IsWhiteout(info) {
				return false
			}
			if i == len(parts)-1 {
				return true
			}
			if !info.IsDir() {
				return false
			}
			opaque = opaque || IsOpaque(p)
		}
		if opaque {
			return false
		}
	}
	return false
}
