package cgroupv2vm

// docs.go is what the host and the machine's docs guest (docsguest) share
// to run the chapters' cgroup v2 blocks in the machine: the jobs the host
// writes into the initramfs, and the results the guest prints on the
// serial console, where the host reads them back.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// Where the docs' files are in the machine, relative to its /.
const (
	DocsJobsFile  = "docs/jobs.json" // the []DocsJob
	DocsBinDir    = "docs/bin"       // the programs the scripts run, by the names they run them as
	DocsRootfsTar = "docs/rootfs.tar"
	// DocsDisk, if the machine has it, says the chapters' directories go
	// on the ext4 disk /dev/vda, as a learner's checkout is on a disk: a
	// layer store on tmpfs would show another filesystem, and tmpfs has
	// no user.* extended attributes before Linux 6.6, which an overlay
	// in a user namespace keeps its bookkeeping in.
	DocsDisk = "docs/disk"
)

// DocsModules are the kernel modules a machine with DocsDisk loads.
var DocsModules = []string{"virtio_pci", "virtio_blk", "crc32c_generic", "ext4"}

// DocsJob is one chapter's blocks to run in the machine.
type DocsJob struct {
	Chapter string // the chapter's file name, 06-cgroups.md
	Script  string // the bash script that runs its blocks, as TestDocs writes it
	NewNS   bool   // run it in a mount namespace of its own, as TestDocs does for box
}

// DocsRun is what a chapter's script printed in the machine, and what the
// host needs to normalize it as TestDocs does on the host.
type DocsRun struct {
	Chapter string
	Output  string   // stdout and stderr through one pipe, as a terminal shows them
	PIDs    []string // the $! values the script recorded on its fd 3
	Dir     string   // the chapter's working directory, the learner's checkout
	Rootfs  string   // its rootfs
	Cgroup  string   // the guest's /proc/self/cgroup, which the scripts inherit
	Err     string   // why the script could not run or finish, if so
}

// docsLine starts each serial line of a result: the line is the prefix, the
// chapter and a piece of the base64 of the result's JSON, so that no line
// is long and nothing in the output can look like the machine's markers.
const docsLine = "BOXDOCS "

// Lines are the serial console lines that carry r.
func (r DocsRun) Lines() ([]string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	enc := base64.StdEncoding.EncodeToString(b)
	var lines []string
	for len(enc) > 0 {
		n := min(len(enc), 96)
		lines = append(lines, docsLine+r.Chapter+" "+enc[:n])
		enc = enc[n:]
	}
	return lines, nil
}

// ParseDocsRuns reads the results back from the serial console, in the
// order the guest printed them.
func ParseDocsRuns(serial string) ([]DocsRun, error) {
	var order []string
	pieces := map[string]*strings.Builder{}
	for _, line := range strings.Split(serial, "\n") {
		rest, ok := strings.CutPrefix(line, docsLine)
		if !ok {
			continue
		}
		chapter, piece, ok := strings.Cut(strings.TrimSpace(rest), " ")
		if !ok {
			return nil, fmt.Errorf("serial console: malformed line %q", line)
		}
		if pieces[chapter] == nil {
			pieces[chapter] = &strings.Builder{}
			order = append(order, chapter)
		}
		pieces[chapter].WriteString(piece)
	}
	var runs []DocsRun
	for _, chapter := range order {
		b, err := base64.StdEncoding.DecodeString(pieces[chapter].String())
		if err != nil {
			return nil, fmt.Errorf("the result of %s: %w", chapter, err)
		}
		var r DocsRun
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("the result of %s: %w", chapter, err)
		}
		runs = append(runs, r)
	}
	return runs, nil
}
