package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOverlayOptions(t *testing.T) {
	tests := []struct {
		name  string
		lower []string
		want  string
	}{
		{"one layer", []string{"/s/layers/100000/aa"}, "lowerdir=/s/layers/100000/aa,upperdir=/c/upper,workdir=/c/work,userxattr"},
		{"top first", []string{"/l/top", "/l/mid", "/l/base"}, "lowerdir=/l/top:/l/mid:/l/base,upperdir=/c/upper,workdir=/c/work,userxattr"},
		{"short links", []string{"l/0", "l/1"}, "lowerdir=l/0:l/1,upperdir=/c/upper,workdir=/c/work,userxattr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, overlayOptions(tt.lower, "/c")); diff != "" {
				t.Errorf("overlayOptions mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChildArgs(t *testing.T) {
	c := &container{lowers: []string{"/l/top", "/l/base"}, dir: &workDir{path: "/c"}, tmpfs: true}
	want := []string{"--overlay-lower=/l/top", "--overlay-lower=/l/base", "--overlay-dir=/c", "--overlay-tmpfs"}
	if diff := cmp.Diff(want, c.childArgs()); diff != "" {
		t.Errorf("childArgs mismatch (-want +got):\n%s", diff)
	}
	if (*container)(nil).childArgs() != nil {
		t.Error("no image: want no args")
	}
}
