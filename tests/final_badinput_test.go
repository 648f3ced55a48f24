package tests

// final_badinput_test.go gives final input it must refuse. Each refusal is
// a non-zero exit with one line on stderr that names the problem, and
// leaves nothing behind: no container state, no mount, no process.

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFinalBadInput(t *testing.T) {
	f := newFinal(t)
	rootfs := sharedRootfs(t)
	host := hostDir(t, map[string]string{"file": "x"})
	// A stopped container and a running one, for the commands that need them.
	f.mustBox("run", "--name", "stopped", "--rootfs", rootfs, "true")
	f.detached("--name", "running", "--rootfs", rootfs, "sleep", "4751")
	tests := []struct {
		name     string
		args     []string
		nobody   bool
		wantCode int    // 0: any failure
		want     string // in the one line
	}{
		{name: "run as non-root", nobody: true, args: []string{"run", "--rootfs", rootfs, "true"}, want: "needs root"},
		{name: "missing rootfs", args: []string{"run", "--rootfs", filepath.Join(host, "nope"), "true"}, want: "is not a directory"},
		{name: "rootfs is a file", args: []string{"run", "--rootfs", filepath.Join(host, "file"), "true"}, want: "is not a directory"},
		{name: "no command", args: []string{"run", "--rootfs", rootfs}, want: "no command given"},
		{name: "no image or rootfs", args: []string{"run"}, want: "nothing to run"},
		{name: "command not in rootfs", args: []string{"run", "--rootfs", rootfs, "/no/such/cmd"}, wantCode: 127, want: "not found"},
		{name: "malformed volume", args: []string{"run", "-v", host, "--rootfs", rootfs, "true"}, want: "want HOST:CTR"},
		{name: "volume host path missing", args: []string{"run", "-v", host + "/missing:/data", "--rootfs", rootfs, "true"}, want: "does not exist"},
		{name: "volume mode", args: []string{"run", "-v", host + ":/data:rx", "--rootfs", rootfs, "true"}, want: "is not ro or rw"},
		{name: "relative workdir", args: []string{"run", "-w", "srv", "--rootfs", rootfs, "true"}, want: "must be absolute"},
		{name: "bad hostname", args: []string{"run", "--hostname", "no_underscores", "--rootfs", rootfs, "true"}, want: "is not valid"},
		{name: "bad name", args: []string{"run", "--name=-dash", "--rootfs", rootfs, "true"}, want: "is not valid"},
		{name: "name taken", args: []string{"run", "--name", "stopped", "--rootfs", rootfs, "true"}, want: `"stopped" is taken`},
		{name: "bad env", args: []string{"run", "-e", "=value", "--rootfs", rootfs, "true"}, want: "want KEY=VALUE"},
		{name: "userns map of host root", args: []string{"run", "--userns-map", "0:65536", "--rootfs", rootfs, "true"}, want: "root inside root on the host"},
		{name: "userns map syntax", args: []string{"run", "--userns-map", "lots", "--rootfs", rootfs, "true"}, want: "want HOSTID:SIZE"},
		{name: "unknown security option", args: []string{"run", "--security-opt", "apparmor=unconfined", "--rootfs", rootfs, "true"}, want: "the one option is seccomp=unconfined"},
		{name: "user syntax", args: []string{"run", "-u", "a:b:c", "--rootfs", rootfs, "true"}, want: "want USER[:GROUP]"},
		{name: "user not in the container", args: []string{"run", "-u", "nosuchuser", "--rootfs", rootfs, "true"}, want: "no such user in the container's /etc/passwd"},
		{name: "publish without veth", args: []string{"run", "-p", "8080:80", "--rootfs", rootfs, "true"}, want: "needs --net veth"},
		{name: "publish syntax", args: []string{"run", "--net", "veth", "-p", "80", "--rootfs", rootfs, "true"}, want: "write it as HOSTPORT:CONTAINERPORT"},
		{name: "publish UDP", args: []string{"run", "--net", "veth", "-p", "53:53/udp", "--rootfs", rootfs, "true"}, want: "only TCP ports"},
		{name: "--entrypoint without an image", args: []string{"run", "--entrypoint", "sh", "--rootfs", rootfs, "true"}, want: "--entrypoint needs an image"},
		{name: "-it without a terminal", args: []string{"run", "-it", "--rootfs", rootfs, "sh"}, want: "needs a terminal"},
		{name: "unknown flag", args: []string{"run", "--no-such-flag", "--rootfs", rootfs, "true"}, want: "unknown flag"},
		{name: "unknown command", args: []string{"launch"}, want: "unexpected argument"},
		{name: "relative state dir", args: []string{"--state-dir", "state", "ps"}, want: "must be an absolute path"},
		{name: "exec into unknown container", args: []string{"exec", "ghost", "true"}, want: "no such container: ghost"},
		{name: "exec into stopped container", args: []string{"exec", "stopped", "true"}, want: "is not running"},
		{name: "exec without command", args: []string{"exec", "running"}, want: "expected"},
		{name: "exec missing workdir", args: []string{"exec", "-w", "/no/such/dir", "running", "true"}, want: "does not exist in container"},
		{name: "exec unknown command", args: []string{"exec", "running", "no-such-cmd"}, wantCode: 127, want: "not found"},
		{name: "kill with unknown signal", args: []string{"kill", "-s", "SIGNOPE", "running"}, want: "unknown signal"},
		{name: "kill stopped container", args: []string{"kill", "stopped"}, want: "is not running"},
		{name: "stop negative grace", args: []string{"stop", "--time=-1", "running"}, want: "cannot be negative"},
		{name: "rm running container", args: []string{"rm", "running"}, want: "rm -f"},
		{name: "logs of a foreground container", args: []string{"logs", "stopped"}, want: "logs are kept for run -d"},
		{name: "inspect unknown container", args: []string{"inspect", "ghost"}, want: "no such container"},
		{name: "unpause a running container", args: []string{"unpause", "running"}, want: "not paused"},
	}
	holdHostMounts(t)
	before := hostMountinfo(t)
	dirsBefore := f.containerDirs()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := runOptions{}
			if tt.nobody {
				o.credential = &syscall.Credential{Uid: 65534, Gid: 65534}
			}
			r := f.boxWith(o, tt.args...)
			switch {
			case r.code == 0:
				t.Fatalf("succeeded, want a refusal:\n%s", r)
			case tt.wantCode != 0 && r.code != tt.wantCode:
				t.Errorf("exit %d, want %d", r.code, tt.wantCode)
			}
			lines := nonEmptyLines(r.stderr)
			if len(lines) != 1 {
				t.Fatalf("want one line on stderr, got %d:\n%s", len(lines), r.stderr)
			}
			if !strings.Contains(lines[0], tt.want) && !(tt.name == "unpause a running container" && strings.Contains(lines[0], "pause needs cgroups")) {
				t.Errorf("stderr %q does not say %q", lines[0], tt.want)
			}
			if r.stdout != "" {
				t.Errorf("a refusal printed on stdout: %q", r.stdout)
			}
		})
	}
	if diff := cmp.Diff(before, hostMountinfo(t)); diff != "" {
		t.Errorf("host mountinfo changed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(dirsBefore, f.containerDirs()); diff != "" {
		t.Errorf("refused runs left state (-before +after):\n%s", diff)
	}
}
