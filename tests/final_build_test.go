package tests

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// build of the final runtime: a Dockerfile of FROM, ADD, COPY, ENV,
// WORKDIR, CMD and RUN makes one content-addressed layer per step that
// changes files, the same layers every time, and an image that runs as
// the Dockerfile says.

// fbuildDockerfile builds on the test image's base layer (a busybox rootfs
// with /data). Its RUN step writes, deletes a file and a directory of the
// layers below, and makes a directory.
const fbuildDockerfile = `# a comment, then the instructions
FROM scratch
ADD rootfs.tar /
COPY hello.txt /etc/hello.txt
COPY files /opt/files/
ENV GREETING=hello \
    OTHER="two words"
WORKDIR /opt
RUN echo built > /opt/built && rm /etc/hostname /data/delete && rm -r /opt/files/sub && mkdir -p /var/data
CMD ["/bin/sh", "-c", "echo \"$GREETING ($OTHER) from $(pwd)\"; cat /etc/hello.txt /opt/built; ls /opt/files; ls /etc/hostname /data/delete 2>&1 | wc -l"]
`

// fbuildContext writes a build context: the Dockerfile, the base layer as
// rootfs.tar, a file and a directory with a subdirectory and a symlink.
func fbuildContext(t *testing.T, dockerfile string) string {
	t.Helper()
	dir := t.TempDir()
	base, err := os.ReadFile(fimgImages(t).baseTar)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"Dockerfile":     dockerfile,
		"rootfs.tar":     string(base),
		"hello.txt":      "hello from a file\n",
		"files/one":      "one\n",
		"files/sub/two":  "two\n",
		"notes/secret":   "not for the image\n",
		"files/.hidden/": "",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") { // an empty directory
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("one", filepath.Join(dir, "files", "link")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// layerColumn is the LAYER column of history, newest first.
func layerColumn(t *testing.T, history string) []string {
	t.Helper()
	var layers []string
	for _, row := range tableOf(history)[1:] {
		layers = append(layers, row[0])
	}
	return layers
}

// TestFinalBuild builds the same Dockerfile in two stores: the layers,
// one per ADD, COPY and RUN, have the same digests both times, ADD of the
// rootfs tar at / is the layer import makes of it, the RUN layer holds
// what the command changed with its deletions as whiteouts, owned by the
// container's root, and the image runs as the Dockerfile says. A second
// Dockerfile builds FROM the first image. Nothing stays mounted or behind.
func TestFinalBuild(t *testing.T) {
	finalImages(t)
	imgs := fimgImages(t)
	holdHostMounts(t)
	hostBefore := hostMountinfo(t)
	ctx := fbuildContext(t, fbuildDockerfile)
	var histories []string
	var stores []fimgDirs
	for i := 0; i < 2; i++ {
		d := newFimgDirs(t)
		r := d.mustBox(t, "build", "-f", filepath.Join(ctx, "Dockerfile"), "-t", "hello:1", ctx)
		if !strings.Contains(r.stdout, "Step 8/8 : CMD") || !strings.Contains(r.stdout, "Built hello:1: 4 layers") {
			t.Errorf("build output:\n%s", r)
		}
		histories = append(histories, d.mustBox(t, "history", "hello:1").stdout)
		stores = append(stores, d)
	}
	rows := tableOf(histories[0])
	var createdBy []string
	for _, row := range rows[1:] {
		createdBy = append(createdBy, row[len(row)-1])
	}
	wantCreatedBy := []string{
		`CMD ["/bin/sh", "-c", "echo \"$GREETING ($OTHER) from $(pwd)\"; cat /etc/hello.txt /opt/built; ls /opt/files; ls /etc/hostname /data/delete 2>&1 | wc -l"]`,
		"RUN echo built > /opt/built && rm /etc/hostname /data/delete && rm -r /opt/files/sub && mkdir -p /var/data",
		"WORKDIR /opt",
		`ENV GREETING=hello OTHER="two words"`,
		"COPY files /opt/files/",
		"COPY hello.txt /etc/hello.txt",
		"ADD rootfs.tar /",
	}
	if diff := cmp.Diff(wantCreatedBy, createdBy); diff != "" {
		t.Errorf("history, newest first (-want +got):\n%s\n%s", diff, histories[0])
	}
	layers := layerColumn(t, histories[0])
	if diff := cmp.Diff(layers, layerColumn(t, histories[1])); diff != "" {
		t.Errorf("a second build made other layers (-first +second):\n%s", diff)
	}
	for i, l := range layers {
		config := i == 0 || i == 2 || i == 3 // CMD, WORKDIR, ENV
		if config != (l == "-") {
			t.Errorf("history row %d (%s): layer %q; want a layer only for ADD, COPY and RUN", i+1, createdBy[i], l)
		}
	}
	if layers[6] != imgs.diffIDs[0] {
		t.Errorf("ADD rootfs.tar / made layer %s; want the tar's own digest %s, as import makes", layers[6], imgs.diffIDs[0])
	}

	d := stores[0]
	runLayer := filepath.Join(d.store, "layers", "sha256", strings.TrimPrefix(layers[1], "sha256:"))
	for _, p := range []string{"etc/hostname", "data/delete", "opt/files/sub"} {
		info, err := os.Lstat(filepath.Join(runLayer, p))
		if err != nil || info.Mode()&fs.ModeCharDevice == 0 || info.Sys().(*syscall.Stat_t).Rdev != 0 {
			t.Errorf("RUN layer: %s should be a whiteout (character device 0/0): %v, %v", p, info, err)
		}
	}
	for _, p := range []string{"opt/built", "var/data"} {
		info, err := os.Lstat(filepath.Join(runLayer, p))
		if err != nil {
			t.Errorf("RUN layer lacks %s: %v", p, err)
			continue
		}
		if st := info.Sys().(*syscall.Stat_t); st.Uid != 0 || st.Gid != 0 {
			t.Errorf("RUN layer: %s is owned by %d:%d; want 0:0, the container's root, not the host uid it ran as", p, st.Uid, st.Gid)
		}
	}
	if _, err := os.Lstat(filepath.Join(runLayer, "opt", "files", "one")); err == nil {
		t.Errorf("RUN layer holds opt/files/one, which RUN did not change")
	}

	r := d.mustBox(t, "run", "hello:1")
	want := "hello (two words) from /opt\nhello from a file\nbuilt\nlink\none\n2\n"
	if r.stdout != want {
		t.Errorf("run hello:1: got %q, want %q", r.stdout, want)
	}
	r = d.mustBox(t, "run", "hello:1", "sh", "-c", "cat /opt/files/link; ls -A /opt/files; cat /data/keep")
	if want := "one\n.hidden\nlink\none\nkeep v1\n"; r.stdout != want {
		t.Errorf("COPY of a directory: got %q, want %q", r.stdout, want)
	}

	// FROM an image of the store: its layers, config and history, and more.
	ctx2 := fbuildContext(t, "FROM hello:1\nRUN echo more >> /opt/built\nCMD cat /opt/built\n")
	r = d.mustBox(t, "build", "-t", "more", ctx2)
	if !strings.Contains(r.stdout, "Built more:latest: 5 layers") {
		t.Errorf("build FROM hello:1:\n%s", r)
	}
	moreLayers := layerColumn(t, d.mustBox(t, "history", "more").stdout)
	if diff := cmp.Diff(layers, moreLayers[2:]); diff != "" || moreLayers[1] == "-" || moreLayers[0] != "-" {
		t.Errorf("more:latest should be hello:1's layers plus one (-hello +more[2:]):\n%s\n%v", diff, moreLayers)
	}
	if r = d.mustBox(t, "run", "more"); r.stdout != "built\nmore\n" {
		t.Errorf("run more: got %q", r.stdout)
	}

	// ENTRYPOINT, as docker composes it: the entrypoint, then the command
	// given or else CMD; a new ENTRYPOINT drops an inherited CMD but keeps
	// one set before it in the same Dockerfile; RUN ignores it.
	d.mustBox(t, "build", "-t", "greeter", fbuildContext(t, "FROM hello:1\nENTRYPOINT [\"/bin/echo\", \"hello,\"]\nRUN echo run-ignores-it > /opt/run\n"))
	d.mustBox(t, "build", "-t", "greeter2", fbuildContext(t, "FROM hello:1\nCMD [\"world\"]\nENTRYPOINT [\"/bin/echo\", \"hello,\"]\n"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"greeter"}, "hello,\n"},
		{[]string{"greeter", "you", "there"}, "hello, you there\n"},
		{[]string{"greeter2"}, "hello, world\n"},
		{[]string{"--entrypoint", "cat", "greeter", "/opt/run"}, "run-ignores-it\n"},
		{[]string{"--entrypoint=", "greeter2", "echo", "alone"}, "alone\n"},
	} {
		if r := d.mustBox(t, append([]string{"run", "--rm"}, tc.args...)...); r.stdout != tc.want {
			t.Errorf("run %v: got %q, want %q", tc.args, r.stdout, tc.want)
		}
	}
	// Variables, substituted in ENV, WORKDIR, COPY and USER as docker
	// does, and left to the shell in CMD.
	vars := "FROM hello:1\nENV DIR=/opt/vars NAME=greeting\nWORKDIR $DIR\nCOPY hello.txt ${DIR}/${NAME}.txt\n" +
		"ENV WHERE=${DIR:-none}/x LATER=${UNSET:-default}\nUSER ${NOBODY:-nobody}\nCMD [\"sh\", \"-c\", \"pwd; ls; echo $WHERE $LATER; id -un\"]\n"
	d.mustBox(t, "build", "-t", "vars", fbuildContext(t, vars))
	if r := d.mustBox(t, "run", "--rm", "vars"); r.stdout != "/opt/vars\ngreeting.txt\n/opt/vars/x default\nnobody\n" {
		t.Errorf("run vars: got %q", r.stdout)
	}

	// USER: who the command runs as, unless run -u says otherwise.
	d.mustBox(t, "build", "-t", "as-nobody", fbuildContext(t, "FROM hello:1\nUSER nobody\nCMD [\"id\", \"-un\"]\n"))
	if r := d.mustBox(t, "run", "--rm", "as-nobody"); r.stdout != "nobody\n" {
		t.Errorf("run of an image with USER nobody ran as %q", r.stdout)
	}
	if r := d.mustBox(t, "run", "--rm", "-u", "root", "as-nobody"); r.stdout != "root\n" {
		t.Errorf("run -u root of an image with USER nobody ran as %q", r.stdout)
	}
	if r := d.box(t, "run", "--rm", "--entrypoint=", "greeter"); r.code == 0 || !strings.Contains(r.stderr, "has no ENTRYPOINT or CMD") {
		t.Errorf("run --entrypoint= of an image without CMD should fail naming it: %s", r)
	}
	for _, s := range stores {
		s.noLeftovers(t)
	}
	if diff := cmp.Diff(hostBefore, hostMountinfo(t)); diff != "" {
		t.Errorf("host mountinfo changed (-before +after):\n%s", diff)
	}
}

// TestFinalBuildBadInput gives build Dockerfiles and arguments it must
// refuse: each fails with one line naming the problem, and leaves no
// image, no new layer and nothing mounted or in the store's tmp.
func TestFinalBuildBadInput(t *testing.T) {
	finalImages(t)
	tests := []struct {
		name, dockerfile, wantErr string
		args                      []string // instead of -t bad CONTEXT
		lines                     int      // on stderr, if not 1: the runtime's own say before build's
	}{
		{name: "unknown instruction", dockerfile: "FROM scratch\nFROBNICATE x\n", wantErr: `line 2: unknown instruction "FROBNICATE"`},
		{name: "unsupported instruction", dockerfile: "FROM scratch\nEXPOSE 80\n", wantErr: "line 2: EXPOSE is not supported by this builder"},
		{name: "USER syntax", dockerfile: "FROM scratch\nUSER a:b:c\n", wantErr: "want USER[:GROUP]"},
		{name: "no FROM first", dockerfile: "COPY hello.txt /\n", wantErr: "the first instruction must be FROM"},
		{name: "empty Dockerfile", dockerfile: "# nothing\n", wantErr: "has no instructions"},
		{name: "two stages", dockerfile: "FROM scratch\nFROM scratch\n", wantErr: "multi-stage builds are not supported"},
		{name: "FROM unknown image", dockerfile: "FROM nope:1\n", wantErr: "FROM nope:1: image nope:1 is not in the store"},
		{name: "COPY from outside the context", dockerfile: "FROM scratch\nADD rootfs.tar /\nCOPY ../secret /x\n", wantErr: "it is outside the build context"},
		{name: "COPY through a symlink out", dockerfile: "FROM scratch\nADD rootfs.tar /\nCOPY outlink /x\n", wantErr: "it leads outside the build context"},
		{name: "COPY missing file", dockerfile: "FROM scratch\nADD rootfs.tar /\nCOPY nope.txt /x\n", wantErr: "nope.txt: not in the build context"},
		{name: "COPY wildcard", dockerfile: "FROM scratch\nCOPY *.txt /x/\n", wantErr: "wildcards are not supported"},
		{name: "COPY without destination", dockerfile: "FROM scratch\nCOPY hello.txt\n", wantErr: "give a source and a destination"},
		{name: "ADD from a URL", dockerfile: "FROM scratch\nADD https://example.com/x.tar /\n", wantErr: "downloading needs the network"},
		{name: "RUN on nothing", dockerfile: "FROM scratch\nRUN true\n", wantErr: "RUN needs files to run on"},
		{name: "RUN fails", dockerfile: "FROM scratch\nADD rootfs.tar /\nRUN echo partial > /x; exit 3\n", wantErr: "the command exited with status 3"},
		{name: "RUN command missing", dockerfile: "FROM scratch\nADD rootfs.tar /\nRUN [\"/no/such/prog\"]\n", wantErr: "the command exited with status 127", lines: 2},
		{name: "CMD bad JSON", dockerfile: "FROM scratch\nCMD [\"sh\", 'x']\n", wantErr: "is not a JSON array of strings"},
		{name: "ENV without value", dockerfile: "FROM scratch\nENV LONELY\n", wantErr: "ENV LONELY has no value"},
		{name: "dangling continuation", dockerfile: "FROM scratch\nENV A=1 \\\n", wantErr: "ends with a backslash"},
		{name: "bad image name", dockerfile: "FROM scratch\n", args: []string{"-t", "Bad_Name"}, wantErr: `image name "Bad_Name"`},
		{name: "missing Dockerfile", dockerfile: "FROM scratch\n", args: []string{"-t", "x", "-f", "/no/such/Dockerfile"}, wantErr: "no such file or directory"},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newFimgDirs(t)
			d.mustBox(t, "import", fimgImages(t).baseTar, "base")
			layersBefore := d.layerDirs(t)
			ctx := fbuildContext(t, tt.dockerfile)
			if err := os.Symlink(safeTempDir(t, "outside-", 0o755), filepath.Join(ctx, "outlink")); err != nil {
				t.Fatal(err)
			}
			args := tt.args
			if args == nil {
				args = []string{"-t", "bad"}
			}
			args = append(append([]string{"build"}, args...), ctx)
			r := d.box(t, args...)
			if r.code != 125 {
				t.Errorf("exit %d, want 125\n%s", r.code, r)
			}
			lines, wantLines := nonEmptyLines(r.stderr), tt.lines
			if wantLines == 0 {
				wantLines = 1
			}
			if len(lines) != wantLines || !strings.Contains(lines[len(lines)-1], tt.wantErr) {
				t.Errorf("want %d line(s) on stderr, the last containing %q:\n%s", wantLines, tt.wantErr, r.stderr)
			} else {
				t.Logf("%s", strings.Join(lines, " / "))
			}
			if r := d.mustBox(t, "images"); len(nonEmptyLines(r.stdout)) != 2 {
				t.Errorf("want only base in the store after a failed build:\n%s", r.stdout)
			}
			if diff := cmp.Diff(layersBefore, d.layerDirs(t)); diff != "" {
				t.Errorf("layers changed by a failed build (-before +after):\n%s", diff)
			}
			d.noLeftovers(t)
		})
	}
}
