package users

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResolve(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(root, "etc", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n")
	write("group", "root:x:0:\nalice:x:1000:\nwheel:x:10:alice,bob\naudio:x:29:bob\nnogroup:x:65534:\n")
	tests := []struct {
		spec    string
		want    Cred
		wantErr string
	}{
		{spec: "0", want: Cred{UID: 0, GID: 0, Home: "/root"}},
		{spec: "alice", want: Cred{UID: 1000, GID: 1000, Groups: []uint32{10}, Home: "/home/alice"}},
		{spec: "1000", want: Cred{UID: 1000, GID: 1000, Groups: []uint32{10}, Home: "/home/alice"}},
		{spec: "alice:audio", want: Cred{UID: 1000, GID: 29, Groups: []uint32{10}, Home: "/home/alice"}},
		{spec: "nobody:nogroup", want: Cred{UID: 65534, GID: 65534, Home: "/nonexistent"}},
		{spec: "4242", want: Cred{UID: 4242, GID: 0}},
		{spec: "4242:4343", want: Cred{UID: 4242, GID: 4343}},
		{spec: "mallory", wantErr: "no such user in the container's /etc/passwd"},
		{spec: "alice:staff", wantErr: "no such group in the container's /etc/group"},
		{spec: "", wantErr: "want USER[:GROUP]"},
		{spec: "alice:", wantErr: "want USER[:GROUP]"},
		{spec: "a:b:c", wantErr: "want USER[:GROUP]"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := Resolve(root, tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolve(%q) error = %v, want one with %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve(%q) mismatch (-want +got):\n%s", tt.spec, diff)
			}
		})
	}
}
