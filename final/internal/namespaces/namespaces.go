// Package namespaces knows the kinds of Linux namespaces a container gets,
// how to ask clone(2) for them, how to read which ones a process is in, and
// how to join a running container's namespaces for exec.
package namespaces

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Kind is one kind of namespace.
type Kind struct {
	Name string  // its file in /proc/PID/ns, and in state.json
	Flag uintptr // its CLONE_NEW* flag
	What string  // what it isolates, for --help and errors
}

// Kinds are the namespace kinds, in the order exec joins them: the user
// namespace first (it owns the others), the mount namespace late (after it,
// /proc is the container's), the PID namespace's "for children" last.
var Kinds = []Kind{
	{"user", unix.CLONE_NEWUSER, "user and group ids"},
	{"ipc", unix.CLONE_NEWIPC, "System V IPC and POSIX message queues"},
	{"uts", unix.CLONE_NEWUTS, "hostname and domain name"},
	{"net", unix.CLONE_NEWNET, "network devices, addresses, routes, ports"},
	{"cgroup", unix.CLONE_NEWCGROUP, "the view of the cgroup tree"},
	{"pid", unix.CLONE_NEWPID, "process ids"},
	{"mnt", unix.CLONE_NEWNS, "the mount table"},
}

// Default returns the kinds every container gets: these, a cgroup
// namespace where the kernel has them (Linux 4.6), and a user namespace
// unless --userns host. A function, not a variable set at package init, so
// only the command that builds a container stats /proc/self/ns/cgroup, not
// every start of every box process (box-init included).
func Default() []string {
	kinds := []string{"pid", "mnt", "uts", "ipc", "net"}
	if _, err := os.Stat("/proc/self/ns/cgroup"); err == nil {
		kinds = append(kinds, "cgroup")
	}
	return kinds
}

// Lookup finds a kind by name.
func Lookup(name string) (Kind, error) {
	for _, k := range Kinds {
		if k.Name == name {
			return k, nil
		}
	}
	return Kind{}, fmt.Errorf("unknown namespace %q", name)
}

// CloneFlags is the clone(2) flags that create the named namespaces, but
// for cgroup: a cgroup namespace is rooted at the cgroup of the process
// that makes it, and clone(2) makes it before the child is placed in its
// own cgroup (even with CLONE_INTO_CGROUP, the root is the parent's), so
// the init makes it itself with UnshareCgroup once it is in its cgroup.
func CloneFlags(names []string) (uintptr, error) {
	var flags uintptr
	for _, name := range names {
		k, err := Lookup(name)
		if err != nil {
			return 0, err
		}
		if name != "cgroup" {
			flags |= k.Flag
		}
	}
	return flags, nil
}

// Inodes reads which namespaces pid is in: each /proc/PID/ns/NAME is a
// symlink like "net:[4026532008]", and two processes share a namespace
// exactly when the numbers match (namespaces(7)).
func Inodes(pid int) (map[string]uint64, error) {
	inodes := map[string]uint64{}
	for _, k := range Kinds {
		ino, err := Inode(pid, k.Name)
		if err != nil {
			return nil, err
		}
		inodes[k.Name] = ino
	}
	return inodes, nil
}

// Inode is the inode number of pid's namespace of kind name.
func Inode(pid int, name string) (uint64, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/ns/" + name
	link, err := os.Readlink(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return parseInode(link)
}

// parseInode reads the number in "net:[4026532008]".
func parseInode(link string) (uint64, error) {
	open, close := strings.IndexByte(link, '['), strings.LastIndexByte(link, ']')
	if open < 0 || close < open {
		return 0, fmt.Errorf("namespace link %q: want TYPE:[INODE]", link)
	}
	return strconv.ParseUint(link[open+1:close], 10, 64)
}

// Own lists the kinds of namespace in which pid differs from this process:
// the namespaces the container really has.
func Own(pid int) ([]Kind, error) {
	theirs, err := Inodes(pid)
	if err != nil {
		return nil, err
	}
	ours, err := Inodes(os.Getpid())
	if err != nil {
		return nil, err
	}
	var own []Kind
	for _, k := range Kinds {
		if theirs[k.Name] != ours[k.Name] {
			own = append(own, k)
		}
	}
	return own, nil
}
