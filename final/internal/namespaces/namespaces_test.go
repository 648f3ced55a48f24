package namespaces

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseInode(t *testing.T) {
	tests := []struct {
		link    string
		want    uint64
		wantErr bool
	}{
		{link: "net:[4026532008]", want: 4026532008},
		{link: "mnt:[1]", want: 1},
		{link: "net:4026532008", wantErr: true},
		{link: "net:[x]", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseInode(tt.link)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseInode(%q) = %d, %v; want %d (error %v)", tt.link, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCloneFlags(t *testing.T) {
	got, err := CloneFlags(Default())
	want := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET)
	if err != nil || got != want {
		t.Errorf("CloneFlags(Default) = %#x, %v; want %#x", got, err, want)
	}
	// cgroup is left for the init to unshare once it is in its cgroup.
	got, err = CloneFlags([]string{"pid", "cgroup"})
	if err != nil || got != unix.CLONE_NEWPID {
		t.Errorf("CloneFlags(pid, cgroup) = %#x, %v; want CLONE_NEWPID alone", got, err)
	}
	if _, err := CloneFlags([]string{"time"}); err == nil {
		t.Error("CloneFlags accepted an unknown namespace")
	}
}

// TestOwnOfSelf checks that a process shares every namespace with itself.
func TestOwnOfSelf(t *testing.T) {
	own, err := Own(os.Getpid())
	if err != nil {
		t.Fatalf("Own: %v", err)
	}
	if len(own) != 0 {
		t.Errorf("Own(self) = %v, want none", own)
	}
}
