// Package cgroupv2vm boots a small virtual machine whose only cgroup
// hierarchy is cgroup v2, to test the cgroups step on v2 for real on hosts
// whose own cgroups are v1 (and must not be touched). The machine runs
// Debian's kernel, taken from its package without installing it, and an
// initramfs of busybox, the step's static binary and the guest check
// program. It runs under QEMU with software emulation (TCG): KVM is not
// usable everywhere these tests run.
package cgroupv2vm

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// initScript is the machine's /init.
//
//go:embed init
var initScript []byte

// Machine is what Prepare gathered to boot: a kernel and an initramfs.
type Machine struct {
	Kernel    string // vmlinux (PVH entry, fast) or vmlinuz (bzImage) if it could not be decompressed
	Initramfs string
	// Disk is a raw disk image the machine gets as /dev/vda (virtio), if
	// set: the initramfs must then hold the virtio_pci and virtio_blk
	// modules (Options.Modules), and those of its filesystem.
	Disk string
}

// Logf reports progress.
type Logf func(format string, args ...any)

// kernelFiles are the files taken from the kernel package, by path:
// the kernel and the overlay module (step 07 needs it; it costs little).
var kernelFiles = []*regexp.Regexp{
	regexp.MustCompile(`^\./boot/vmlinuz-`),
	regexp.MustCompile(`/kernel/fs/overlayfs/overlay\.ko(\.xz)?$`),
}

// File is a file to put in the machine's initramfs: Data, or the host's
// file at Path, as Name (a path relative to the machine's /).
type File struct {
	Name string
	Mode uint32
	Data []byte
	Path string
}

// GuestArgs is the file whose words /init passes to /guest; without it,
// /init runs "/guest /box".
const GuestArgs = "guest.args"

// SwitchRoot is the file that makes /init move the machine's files to a
// tmpfs and switch_root there before anything else, so that containers
// pivot_root as on a learner's machine, not out of an initramfs.
const SwitchRoot = "switch-root"

// Prepare downloads (once, into cacheDir) the kernel and busybox-static
// packages, takes the files it needs out of them, and writes an
// initramfs in workDir holding busybox, the overlay module, /init, the step
// binary as /box and the guest program as /guest.
func Prepare(cacheDir, workDir, stepBin, guestBin string, logf Logf) (Machine, error) {
	files := []File{
		{Name: "box", Mode: 0o755, Path: stepBin},
		{Name: "guest", Mode: 0o755, Path: guestBin},
	}
	// final's container side, and what its monitor becomes, which box
	// finds next to itself.
	for _, helper := range []string{"box-init", "box-monitor"} {
		if path := filepath.Join(filepath.Dir(stepBin), helper); fileExists(path) {
			files = append(files, File{Name: helper, Mode: 0o755, Path: path})
		}
	}
	return PrepareWith(cacheDir, workDir, Options{Files: files}, logf)
}

// fileExists tells whether path names a file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Options are what a machine holds besides its own files (busybox, the
// overlay module, /init).
type Options struct {
	Files []File // they hold /guest
	// Modules are kernel modules /init loads after overlay, by name
	// (ext4), each after those it depends on, which come too.
	Modules []string
}

// PrepareWith is Prepare with the files and modules of o.
func PrepareWith(cacheDir, workDir string, o Options, logf Logf) (Machine, error) {
	debs := filepath.Join(cacheDir, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return Machine{}, err
	}
	kernelPkg, err := kernelPackage()
	if err != nil {
		return Machine{}, err
	}
	kernelDeb, err := download(debs, kernelPkg, logf)
	if err != nil {
		return Machine{}, err
	}
	busyboxDeb, err := download(debs, "busybox-static", logf)
	if err != nil {
		return Machine{}, err
	}
	kdir := filepath.Join(cacheDir, strings.TrimSuffix(filepath.Base(kernelDeb), ".deb"))
	kernel, overlay, err := kernelFromDeb(kernelDeb, kdir, logf)
	if err != nil {
		return Machine{}, err
	}
	busybox, err := debFile(busyboxDeb, "./bin/busybox")
	if err != nil {
		return Machine{}, err
	}
	all := []cpioFile{
		{name: "init", mode: 0o755, data: initScript},
		{name: "bin/busybox", mode: 0o755, data: busybox},
		{name: "lib/modules/overlay.ko", mode: 0o644, path: overlay},
	}
	modules, err := kernelModules(kernelDeb, kdir, o.Modules, logf)
	if err != nil {
		return Machine{}, err
	}
	for i, m := range modules {
		// /init loads lib/modules/[0-9]*.ko in the order of their names.
		all = append(all, cpioFile{name: fmt.Sprintf("lib/modules/%02d-%s", i, filepath.Base(m)), mode: 0o644, path: m})
	}
	seen := map[string]bool{}
	for _, f := range o.Files {
		if seen[f.Name] { // a library two host tools load
			continue
		}
		seen[f.Name] = true
		all = append(all, cpioFile{name: f.Name, mode: f.Mode, data: f.Data, path: f.Path})
	}
	initramfs := filepath.Join(workDir, "initramfs.cpio")
	if err := writeInitramfs(initramfs, all); err != nil {
		return Machine{}, err
	}
	return Machine{Kernel: kernel, Initramfs: initramfs}, nil
}

// HostTool is a dynamically linked program of this host, such as bash,
// with the shared libraries ldd(1) says it loads, as files for the
// machine: the program in /usr/local/bin, the libraries where the
// program looks for them. The machine's busybox has no bash, and its tar
// lacks GNU tar's options.
func HostTool(name string) ([]File, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("%s is needed in the machine: %w", name, err)
	}
	out, err := exec.Command("ldd", path).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %v: %s", path, err, out)
	}
	files := []File{{Name: "usr/local/bin/" + filepath.Base(path), Mode: 0o755, Path: path}}
	// Lines are "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)",
	// "/lib64/ld-linux-x86-64.so.2 (0x...)" and the vdso, which has no file.
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		lib := ""
		switch {
		case len(fields) >= 3 && fields[1] == "=>" && strings.HasPrefix(fields[2], "/"):
			lib = fields[2]
		case len(fields) >= 1 && strings.HasPrefix(fields[0], "/"):
			lib = fields[0]
		}
		if lib != "" {
			files = append(files, File{Name: strings.TrimPrefix(lib, "/"), Mode: 0o755, Path: lib})
		}
	}
	return files, nil
}

// kernelPackage is the real kernel package behind Debian's
// linux-image-amd64 metapackage, such as linux-image-6.1.0-56-amd64.
func kernelPackage() (string, error) {
	out, err := exec.Command("apt-cache", "depends", "linux-image-amd64").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("apt-cache depends linux-image-amd64: %v: %s (on Debian; run apt-get update first)", err, out)
	}
	m := regexp.MustCompile(`Depends: (linux-image-[0-9]\S*)`).FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("apt-cache depends linux-image-amd64 names no kernel package:\n%s", out)
	}
	return string(m[1]), nil
}

// download fetches a package's .deb into dir with apt-get download, unless
// a .deb of it is there already, and returns its path.
func download(dir, pkg string, logf Logf) (string, error) {
	find := func() string {
		found, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
		if len(found) == 0 {
			return ""
		}
		return found[len(found)-1]
	}
	if deb := find(); deb != "" {
		return deb, nil
	}
	logf("apt-get download %s into %s", pkg, dir)
	cmd := exec.Command("apt-get", "download", pkg)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download %s: %v: %s", pkg, err, out)
	}
	if deb := find(); deb != "" {
		return deb, nil
	}
	return "", fmt.Errorf("apt-get download %s made no .deb in %s", pkg, dir)
}

// kernelFromDeb takes the kernel and the overlay module out of the kernel
// package into dir (once), and decompresses the kernel to an ELF vmlinux:
// QEMU boots that directly (PVH), which skips decompressing it in the
// emulated machine, a few seconds.
func kernelFromDeb(deb, dir string, logf Logf) (kernel, overlay string, err error) {
	vmlinuz, vmlinux, overlay := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "vmlinux"), filepath.Join(dir, "overlay.ko")
	if _, err := os.Stat(vmlinuz); err != nil {
		logf("extract the kernel and overlay.ko from %s", filepath.Base(deb))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", "", err
		}
		found, err := debFiles(deb, kernelFiles)
		if err != nil {
			return "", "", err
		}
		if len(found) != len(kernelFiles) {
			return "", "", fmt.Errorf("%s lacks the kernel or overlay.ko", deb)
		}
		ko := found[1]
		if bytes.HasPrefix(ko, []byte("\xfd7zXZ\x00")) {
			if ko, err = unxz(ko); err != nil {
				return "", "", fmt.Errorf("decompress overlay.ko.xz: %w", err)
			}
		}
		if err := os.WriteFile(overlay, ko, 0o644); err != nil {
			return "", "", err
		}
		if err := os.WriteFile(vmlinuz, found[0], 0o644); err != nil {
			return "", "", err
		}
	}
	if _, err := os.Stat(vmlinux); err == nil {
		return vmlinux, overlay, nil
	}
	image, err := os.ReadFile(vmlinuz)
	if err != nil {
		return "", "", err
	}
	// A bzImage is a small decompressor followed by the compressed kernel.
	at := bytes.Index(image, []byte("\xfd7zXZ\x00"))
	if at < 0 {
		logf("vmlinuz holds no xz-compressed kernel: booting the bzImage")
		return vmlinuz, overlay, nil
	}
	elf, err := unxz(image[at:])
	if err != nil || !bytes.HasPrefix(elf, []byte("\x7fELF")) {
		logf("cannot decompress the kernel (%v): booting the bzImage, a few seconds slower", err)
		return vmlinuz, overlay, nil
	}
	if err := os.WriteFile(vmlinux+".tmp", elf, 0o644); err != nil {
		return "", "", err
	}
	return vmlinux, overlay, os.Rename(vmlinux+".tmp", vmlinux)
}

// unxz decompresses the first xz stream of data, ignoring what follows
// it. Go's standard library has no xz: xz(1) does it, or python3's lzma.
func unxz(data []byte) ([]byte, error) {
	var errs []string
	for _, argv := range [][]string{
		{"xz", "--decompress", "--stdout", "--single-stream"},
		{"python3", "-c", "import lzma, sys; sys.stdout.buffer.write(lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(sys.stdin.buffer.read()))"},
	} {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin = bytes.NewReader(data)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v %s", argv[0], err, strings.TrimSpace(stderr.String())))
			continue
		}
		return out.Bytes(), nil
	}
	return nil, errors.New(strings.Join(errs, "; "))
}

// debFile returns one file of a .deb's data, by its path in the archive.
func debFile(deb, name string) ([]byte, error) {
	found, err := debFiles(deb, []*regexp.Regexp{regexp.MustCompile("^" + regexp.QuoteMeta(name) + "$")})
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%s has no %s", deb, name)
	}
	return found[0], nil
}

// debFiles reads the regular files of a .deb whose names match patterns,
// one per pattern in order, from dpkg-deb --fsys-tarfile, without
// unpacking the rest (a kernel package's modules are hundreds of MB).
// Patterns that matched nothing are left out.
func debFiles(deb string, patterns []*regexp.Regexp) ([][]byte, error) {
	found, err := debFilesAt(deb, patterns)
	var out [][]byte
	for _, f := range found {
		if f != nil {
			out = append(out, f)
		}
	}
	return out, err
}

// debFilesAt is debFiles with a nil for each pattern that matched nothing.
func debFilesAt(deb string, patterns []*regexp.Regexp) ([][]byte, error) {
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("dpkg-deb: %w", err)
	}
	found := make([][]byte, len(patterns))
	tr := tar.NewReader(stdout)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, fmt.Errorf("read %s: %w", deb, err)
		}
		for i, p := range patterns {
			if hdr.Typeflag == tar.TypeReg && found[i] == nil && p.MatchString(hdr.Name) {
				if found[i], err = io.ReadAll(tr); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("dpkg-deb --fsys-tarfile %s: %v: %s", deb, err, stderr.String())
	}
	return found, nil
}

// kernelModules takes the modules named and those they depend on out of
// the kernel package into dir/modules (once), and returns their files in
// an order insmod can load them in: each after its dependencies. The
// package has no modules.dep (depmod makes it at install), so the
// dependencies come from each module's own .modinfo ("depends=").
func kernelModules(deb, dir string, names []string, logf Logf) ([]string, error) {
	mdir := filepath.Join(dir, "modules")
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		return nil, err
	}
	file := func(name string) string { return filepath.Join(mdir, strings.ReplaceAll(name, "-", "_")+".ko") }
	deps := map[string][]string{}
	pending := names
	for len(pending) > 0 {
		var missing []string
		for _, name := range pending {
			if _, err := os.Stat(file(name)); err != nil {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			logf("extract the modules %s from %s", strings.Join(missing, " "), filepath.Base(deb))
			var patterns []*regexp.Regexp
			for _, name := range missing {
				// Module names say _ where file names may say -.
				re := strings.ReplaceAll(regexp.QuoteMeta(strings.ReplaceAll(name, "-", "_")), "_", "[-_]")
				patterns = append(patterns, regexp.MustCompile(`^\./lib/modules/[^/]+/kernel/.*/`+re+`\.ko(\.xz)?$`))
			}
			found, err := debFilesAt(deb, patterns)
			if err != nil {
				return nil, err
			}
			for i, ko := range found {
				if ko == nil {
					return nil, fmt.Errorf("%s has no module %s", filepath.Base(deb), missing[i])
				}
				if bytes.HasPrefix(ko, []byte("\xfd7zXZ\x00")) {
					if ko, err = unxz(ko); err != nil {
						return nil, fmt.Errorf("decompress %s.ko.xz: %w", missing[i], err)
					}
				}
				if err := os.WriteFile(file(missing[i]), ko, 0o644); err != nil {
					return nil, err
				}
			}
		}
		var next []string
		for _, name := range pending {
			d, err := moduleDepends(file(name))
			if err != nil {
				return nil, err
			}
			deps[name] = d
			for _, dep := range d {
				if _, seen := deps[dep]; !seen && !slices.Contains(next, dep) {
					next = append(next, dep)
				}
			}
		}
		pending = next
	}
	var order []string
	done := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		if done[name] {
			return
		}
		done[name] = true // modules do not depend on each other in a cycle
		for _, dep := range deps[name] {
			visit(dep)
		}
		order = append(order, file(name))
	}
	for _, name := range names {
		visit(name)
	}
	return order, nil
}

// moduleDepends reads the modules a module depends on from its .modinfo
// section: NUL-separated key=value strings, one of them depends=a,b.
func moduleDepends(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s has no .modinfo", path)
	}
	info, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	for _, kv := range strings.Split(string(info), "\x00") {
		if list, ok := strings.CutPrefix(kv, "depends="); ok {
			if list == "" {
				return nil, nil
			}
			return strings.Split(list, ","), nil
		}
	}
	return nil, nil
}

// Boot is the outcome of one boot.
type Boot struct {
	Serial   string        // the serial console, the guest's output
	QEMUExit int           // isa-debug-exit makes it guest status*2+1
	Wall     time.Duration // from starting QEMU to its exit
}

// Run boots the machine once with a 2-CPU, 1 GiB software-emulated PC and
// returns what its serial console printed. The kernel mounts no v1
// hierarchy (cgroup_no_v1=all), so the init script mounts cgroup2 alone.
// no_timer_check: on a busy host the emulated CPU may miss the timer
// interrupts the kernel counts at boot, which then panics ("IO-APIC +
// timer doesn't work").
// timeout(1) bounds QEMU, which pauses rather than exits on some errors.
func Run(m Machine, workDir string, limit time.Duration) (Boot, error) {
	serial := filepath.Join(workDir, "serial.log")
	args := []string{"--kill-after=10", fmt.Sprintf("%d", int(limit.Seconds())),
		"qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max", "-M", "q35", "-m", "1024", "-smp", "2",
		"-kernel", m.Kernel, "-initrd", m.Initramfs,
		"-append", "console=ttyS0 quiet panic=-1 no_timer_check cgroup_no_v1=all",
		"-nographic", "-no-reboot", "-nodefaults", "-serial", "file:" + serial, "-monitor", "none",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"}
	if m.Disk != "" {
		args = append(args, "-drive", "file="+m.Disk+",if=virtio,format=raw")
	}
	cmd := exec.Command("timeout", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	b := Boot{Wall: time.Since(start)}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		b.QEMUExit = exitErr.ExitCode()
	case err != nil:
		return b, fmt.Errorf("qemu: %w", err)
	}
	log, readErr := os.ReadFile(serial)
	b.Serial = strings.ReplaceAll(string(log), "\r", "")
	if b.QEMUExit == 124 || b.QEMUExit == 137 {
		return b, fmt.Errorf("the machine did not power off within %v (qemu: %s)", limit, strings.TrimSpace(out.String()))
	}
	if readErr != nil {
		return b, fmt.Errorf("qemu exited %d and left no serial log: %v\n%s", b.QEMUExit, readErr, out.String())
	}
	return b, nil
}
