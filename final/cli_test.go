package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// TestRunConfigRefusesBadInput checks run's input checks, which run before
// anything is created: each bad input gets one line naming the problem.
func TestRunConfigRefusesBadInput(t *testing.T) {
	rootfs := t.TempDir() // 0700, so root in a user namespace cannot enter it
	file := filepath.Join(rootfs, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		r       runCmd
		wantErr string
	}{
		{"no image and no rootfs", runCmd{}, "nothing to run"},
		{"rootfs missing", runCmd{Rootfs: filepath.Join(rootfs, "nope"), Args: []string{"sh"}}, "is not a directory"},
		{"rootfs is a file", runCmd{Rootfs: file, Args: []string{"sh"}}, "is not a directory"},
		{"rootfs is the host root", runCmd{Rootfs: "/", Args: []string{"sh"}}, "host's own root"},
		{"no command", runCmd{Rootfs: rootfs}, "no command given"},
		{"only --", runCmd{Rootfs: rootfs, Args: []string{"--"}}, "no command given"},
		{"relative workdir", runCmd{Rootfs: rootfs, Workdir: "srv", Args: []string{"sh"}}, "must be absolute"},
		{"bad hostname", runCmd{Rootfs: rootfs, Hostname: "a_b", Args: []string{"sh"}}, "hostname \"a_b\" is not valid"},
		{"long hostname", runCmd{Rootfs: rootfs, Hostname: strings.Repeat("a", 65), Args: []string{"sh"}}, "longer than 64"},
		{"bad volume", runCmd{Rootfs: rootfs, Volumes: []string{"/tmp"}, Args: []string{"sh"}}, "want HOST:CTR"},
		{"empty env key", runCmd{Rootfs: rootfs, Env: []string{"=x"}, Args: []string{"sh"}}, "want KEY=VALUE"},
		{"env key with space", runCmd{Rootfs: rootfs, Env: []string{"A B=x"}, Args: []string{"sh"}}, "want KEY=VALUE"},
		{"userns map not a range", runCmd{Rootfs: rootfs, UsernsMap: "100000", Args: []string{"sh"}}, "want HOSTID:SIZE"},
		{"userns map at host root", runCmd{Rootfs: rootfs, UsernsMap: "0:65536", Args: []string{"sh"}}, "root inside root on the host"},
		{"userns map empty", runCmd{Rootfs: rootfs, UsernsMap: "100000:0", Args: []string{"sh"}}, "at least one id"},
		{"userns host and map", runCmd{Rootfs: rootfs, Userns: "host", UsernsMap: "1:1", Args: []string{"sh"}}, "contradict"},
		{"rootfs unreachable in userns", runCmd{Rootfs: rootfs, Args: []string{"sh"}}, "cannot enter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.r.config(&cli{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("config error = %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines; want one", err)
			}
		})
	}
}

func TestRunConfig(t *testing.T) {
	rootfs := t.TempDir()
	t.Setenv("FROM_HOST", "yes")
	r := runCmd{Rootfs: rootfs, TTY: true, Userns: "host", Workdir: "/srv/", Env: []string{"A=1", "FROM_HOST", "NOT_SET", "HOME=/home/x"},
		Args: []string{"--", "sh", "-c", "echo hi"}}
	cfg, err := r.config(&cli{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if diff := cmp.Diff([]string{"sh", "-c", "echo hi"}, cfg.Command); diff != "" {
		t.Errorf("command mismatch (-want +got):\n%s", diff)
	}
	wantEnv := []string{"PATH=" + defaultPath, "HOME=/home/x", "TERM=xterm", "A=1", "FROM_HOST=yes"}
	if diff := cmp.Diff(wantEnv, cfg.Env); diff != "" {
		t.Errorf("env mismatch (-want +got):\n%s", diff)
	}
	if cfg.Workdir != "/srv" || cfg.Rootfs != rootfs {
		t.Errorf("workdir, rootfs = %s, %s; want /srv, %s", cfg.Workdir, cfg.Rootfs, rootfs)
	}
	if diff := cmp.Diff([]string{"pid", "mnt", "uts", "ipc", "net", "cgroup"}, cfg.Namespaces); diff != "" {
		t.Errorf("namespaces mismatch (-want +got):\n%s", diff)
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in      string
		want    unix.Signal
		wantErr string
	}{
		{in: "TERM", want: unix.SIGTERM},
		{in: "sigkill", want: unix.SIGKILL},
		{in: "SIGUSR1", want: unix.SIGUSR1},
		{in: "9", want: unix.SIGKILL},
		{in: "0", wantErr: "out of range"},
		{in: "65", wantErr: "out of range"},
		{in: "NOPE", wantErr: "unknown signal"},
	}
	for _, tt := range tests {
		got, err := parseSignal(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseSignal(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestFindCommand(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A dangling symlink, as a busybox applet looks from the host.
	if err := os.Symlink("/bin/busybox", filepath.Join(root, "bin", "sh")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want, wantErr string
	}{
		{name: "sh", want: "/bin/sh"},
		{name: "/bin/sh", want: "/bin/sh"},
		{name: "ls", wantErr: `command "ls" not found`},
		{name: "/usr/bin/sh", wantErr: "not found"},
		{name: "sh", path: "/usr/bin", wantErr: "not found"},
	}
	for _, tt := range tests {
		got, err := findCommand(root, tt.name, tt.path)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("findCommand(%q, PATH=%q) error = %v, want %q", tt.name, tt.path, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("findCommand(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestUnescapeMountPath(t *testing.T) {
	tests := map[string]string{
		`/run/box`:        "/run/box",
		`/a\040b`:         "/a b",
		`/tab\011x\134y`:  "/tab\tx\\y",
		`/short\04`:       `/short\04`,
		`/not\999escaped`: `/not\999escaped`,
	}
	for in, want := range tests {
		if got := unescapeMountPath(in); got != want {
			t.Errorf("unescapeMountPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckHostname(t *testing.T) {
	for _, ok := range []string{"box", "web-1", "a.b.c", strings.Repeat("a", 64)} {
		if err := checkHostname(ok); err != nil {
			t.Errorf("checkHostname(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"-x", "x-", "a..b", "a b", "ä"} {
		if err := checkHostname(bad); err == nil {
			t.Errorf("checkHostname(%q) = nil, want an error", bad)
		}
	}
}
