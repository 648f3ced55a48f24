package cgroupv2vm

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
)

// cpioFile is one file of the initramfs: its content is data, or the file
// at path on the host.
type cpioFile struct {
	name string
	mode uint32
	data []byte
	path string
}

// initramfsDirs are the directories of the initramfs besides the files'.
var initramfsDirs = []string{"dev", "proc", "sys", "tmp", "run"}

// writeInitramfs writes files as an uncompressed initramfs: a cpio
// archive in the "newc" format the kernel unpacks (Documentation/
// driver-api/early-userspace/buffer-format.rst), every entry owned by root.
// It adds the parent directories and /dev/console, which init's stdio
// needs before it mounts devtmpfs.
func writeInitramfs(out string, files []cpioFile) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := &cpioWriter{w: bufio.NewWriter(f)}
	dirs := map[string]bool{}
	for _, d := range initramfsDirs {
		dirs[d] = true
	}
	for _, file := range files {
		for d := path.Dir(file.name); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names) // a parent sorts before its children
	for _, d := range names {
		w.entry(d, 0o040755, nil, 0, 0)
	}
	w.entry("dev/console", 0o020600, nil, 5, 1)
	for _, file := range files {
		data := file.data
		if file.path != "" {
			if data, err = os.ReadFile(file.path); err != nil {
				f.Close()
				return err
			}
		}
		w.entry(file.name, 0o100000|file.mode, data, 0, 0)
	}
	w.entry("TRAILER!!!", 0, nil, 0, 0)
	if err := w.w.Flush(); err != nil || w.err != nil {
		f.Close()
		return fmt.Errorf("write %s: %v %v", out, err, w.err)
	}
	return f.Close()
}

// cpioWriter writes newc entries: a header of "070701" and thirteen
// 8-digit hex fields, the name with its NUL, the data, each padded to 4
// bytes.
type cpioWriter struct {
	w   *bufio.Writer
	ino uint32
	err error
}

func (c *cpioWriter) entry(name string, mode uint32, data []byte, rdevMajor, rdevMinor uint32) {
	c.ino++
	nlink := uint32(1)
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	fields := []uint32{c.ino, mode, 0, 0, nlink, 0, uint32(len(data)), 0, 0, rdevMajor, rdevMinor, uint32(len(name) + 1), 0}
	var hdr strings.Builder
	hdr.WriteString("070701")
	for _, v := range fields {
		fmt.Fprintf(&hdr, "%08x", v)
	}
	hdr.WriteString(name + "\x00")
	c.write([]byte(hdr.String()))
	c.pad(hdr.Len())
	c.write(data)
	c.pad(len(data))
}

func (c *cpioWriter) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

// pad writes the NULs that bring n written bytes to a multiple of 4; the
// header is 110 bytes, so name padding counts from the header's start.
func (c *cpioWriter) pad(n int) {
	c.write(make([]byte, (4-n%4)%4))
}
