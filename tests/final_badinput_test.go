package tests

// final_badinput_test.go gives final input it must refuse. Each refusal is
// a non-zero exit with one line on stderr that names the problem, and
// leaves nothing behind: no container state, no mount, no process.

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
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
		{name: "cpu weight 0", args: []string{"run", "--cpu-weight", "0", "--rootfs", rootfs, "true"}, want: "--cpu-weight 0 is out of range: give 1 to 10000"},
		{name: "pids limit 0", args: []string{"run", "--pids-limit", "0", "--rootfs", rootfs, "true"}, want: "--pids-limit 0 would allow no process at all: give at least 16"},
		{name: "memory -1", args: []string{"run", "-m", "-1", "--rootfs", rootfs, "true"}, want: "--memory -1 is not a size: give one like 100m, or leave -m out"},
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

// TestFinalExecRacesStop stops a container while exec runs a command in
// it: exec must say, in one line, that the container stopped, not how the
// connection to its init broke.
func TestFinalExecRacesStop(t *testing.T) {
	f := newFinal(t)
	f.detached("--name", "exec-race", "--rootfs", sharedRootfs(t), "sleep", "4759")
	c := f.start("exec", "exec-race", "sh", "-c", "echo ready; exec sleep 4760")
	c.waitForLine(t, "ready")
	f.mustBox("kill", "exec-race")
	code := c.wait(t)
	lines := nonEmptyLines(c.stderr.String())
	if code == 0 || len(lines) != 1 || !strings.Contains(lines[0], "container exec-race stopped") {
		t.Errorf("exec whose container was killed: want a failure and one line saying the container stopped, got exit %d:\n%s", code, c.stderr.String())
	}
}

// TestFinalImageIntegrity gives import and load archives that are cut
// short, empty, edited or damaged: each is refused in one line naming the
// file, and the store is left as it was (no image, no layer, nothing in
// its tmp dir). A damaged blob is refused even when the store holds the
// layer its config names, which load would not need to extract.
func TestFinalImageIntegrity(t *testing.T) {
	finalImages(t)
	imgs := fimgImages(t)
	dir := safeTempDir(t, "integrity-", 0o755)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gz := func(b []byte, name string) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Name = name // another header: other bytes, the same content
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	layer := layerTar([]tarEntry{{name: "integrity", body: "the layer's one file\n"}})
	config := imageConfig([]string{digestOf(layer)}, nil, map[string]any{"Env": []string{"GREETING=hello"}})
	// oci writes the test image as an OCI layout, lets edit change its
	// blobs (by their digest), and tars it.
	oci := func(name string, edit func(blobs string)) string {
		layout := filepath.Join(dir, name)
		if err := writeOCILayout(layout, "integrity:"+name, config, [][]byte{layer}); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(filepath.Join(layout, "blobs", "sha256"))
		}
		file := layout + ".tar"
		if err := tarDir(layout, file); err != nil {
			t.Fatal(err)
		}
		return file
	}
	layerBlob := func(blobs string) string {
		entries, _ := os.ReadDir(blobs)
		for _, e := range entries {
			if b, _ := os.ReadFile(filepath.Join(blobs, e.Name())); bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
				return filepath.Join(blobs, e.Name())
			}
		}
		t.Fatal("the layout has no gzipped layer blob")
		return ""
	}
	good := oci("good", nil)
	editedConfig := oci("edited-config", func(blobs string) {
		p := filepath.Join(blobs, strings.TrimPrefix(digestOf(config), "sha256:"))
		edited := bytes.Replace(config, []byte("GREETING=hello"), []byte("GREETING=owned"), 1)
		if err := os.WriteFile(p, edited, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	recompressed := oci("recompressed", func(blobs string) {
		if err := os.WriteFile(layerBlob(blobs), gz(layer, "other"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	corrupt := oci("corrupt-layer", func(blobs string) {
		other := layerTar([]tarEntry{{name: "integrity", body: "not what the digest names\n"}})
		if err := os.WriteFile(layerBlob(blobs), gz(other, ""), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	base, err := os.ReadFile(imgs.baseTar)
	if err != nil {
		t.Fatal(err)
	}
	baseGz := gz(base, "")
	truncatedGz := write("rootfs-cut.tar.gz", baseGz[:len(baseGz)/2])
	save := gz(dockerSaveArchive([]string{"integrity:save"}, config, [][]byte{layer}), "")
	truncatedSave := write("save-cut.tar.gz", save[:len(save)*2/3])
	empty := write("empty.tar", nil)
	tests := []struct {
		name    string
		before  string // an archive loaded first
		args    []string
		wantErr []string
	}{
		{name: "import a zero-byte file", args: []string{"import", empty, "empty"}, wantErr: []string{empty, "is empty"}},
		{name: "import a truncated tar.gz", args: []string{"import", truncatedGz, "cut"}, wantErr: []string{truncatedGz, "is truncated"}},
		{name: "load a truncated tar.gz", args: []string{"load", truncatedSave}, wantErr: []string{truncatedSave, "is truncated"}},
		{name: "load an edited config", args: []string{"load", editedConfig}, wantErr: []string{editedConfig, "is corrupt or was edited", "blobs/sha256/" + strings.TrimPrefix(digestOf(config), "sha256:")[:12]}},
		{name: "load a recompressed layer blob", args: []string{"load", recompressed}, wantErr: []string{recompressed, "is corrupt or was edited"}},
		{name: "load a corrupt layer blob", args: []string{"load", corrupt}, wantErr: []string{corrupt, "is corrupt"}},
		{name: "load a corrupt layer blob, its layer stored", before: good, args: []string{"load", corrupt}, wantErr: []string{corrupt, "is corrupt"}},
		{name: "load a recompressed layer blob, its layer stored", before: good, args: []string{"load", recompressed}, wantErr: []string{recompressed, "is corrupt or was edited"}},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			d := newFimgDirs(t)
			if tt.before != "" {
				d.mustBox(t, "load", tt.before)
			}
			imagesBefore, layersBefore := d.mustBox(t, "images").stdout, d.layerDirs(t)
			r := d.box(t, tt.args...)
			if r.code != 125 {
				t.Errorf("exit %d, want 125\n%s", r.code, r)
			}
			lines := nonEmptyLines(r.stderr)
			if len(lines) != 1 {
				t.Fatalf("want one line on stderr, got:\n%s", r.stderr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(lines[0], want) {
					t.Errorf("stderr %q does not say %q", lines[0], want)
				}
			}
			if after := d.mustBox(t, "images").stdout; after != imagesBefore {
				t.Errorf("images changed:\n%s\nthen:\n%s", imagesBefore, after)
			}
			if diff := cmp.Diff(layersBefore, d.layerDirs(t)); diff != "" {
				t.Errorf("layers changed (-before +after):\n%s", diff)
			}
			d.noLeftovers(t)
		})
	}
	// The untouched layout loads: what was refused above was the damage.
	d := newFimgDirs(t)
	d.mustBox(t, "load", good)
}

// TestFinalReimportNeedsNoSpace imports a tarball into a store on a tmpfs
// (in a mount namespace of the test's own), shrinks the tmpfs so that it
// could not hold the layer twice, and imports the tarball again under
// another name: the store knows the file, so the second import unpacks
// nothing and needs no space.
func TestFinalReimportNeedsNoSpace(t *testing.T) {
	finalImages(t)
	imgs := fimgImages(t)
	unshare := requireTool(t, "unshare")
	dir := safeTempDir(t, "reimport-", 0o755)
	if err := os.Mkdir(filepath.Join(dir, "store"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := `set -u
mount -t tmpfs -o size=512m tmpfs "$DIR/store" || exit 90
box() { "$BIN" --quiet --store "$DIR/store/s" --state-dir "$DIR/state" "$@"; }
box import "$BASE" first >/dev/null; echo "first: $?"
used=$(df -B1 --output=used "$DIR/store" | tail -1)
mount -o remount,size=$((used * 3 / 2)) "$DIR/store" || exit 91
box import "$BASE" second >/dev/null 2>"$DIR/second.err"; echo "second: $?"
echo "layers: $(ls "$DIR/store/s/layers/sha256" | grep -vc json)"
echo "images: $(ls "$DIR/store/s/images" | tr '\n' ' ')"
echo "tmp: $(ls -A "$DIR/store/s/tmp")"
box rmi first second >/dev/null; echo "imported after rmi: $(ls -A "$DIR/store/s/layers/imported")"
`
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "DIR="+dir, "BIN="+binary(t, finalStep), "BASE="+imgs.baseTar)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	want := []string{"first: 0", "second: 0", "layers: 1", "images: first:latest.json second:latest.json ", "tmp: ", "imported after rmi: "}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")); diff != "" {
		b, _ := os.ReadFile(filepath.Join(dir, "second.err"))
		t.Errorf("script output (-want +got):\n%s\nsecond import's stderr:\n%s", diff, b)
	}
}
