package main

// top.go is the top command: the processes of a running container, each
// with its PID on the host and its PID inside, which /proc/PID/status
// lists together (NSpid): the PID namespace of chapter 02, seen from
// outside.

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"box/final/internal/namespaces"
)

type topCmd struct {
	Container string `arg:"" name:"container" help:"Name or ID of a running container."`
}

// containerProcess is one process of a container.
type containerProcess struct {
	hostPID, pid int    // on the host, and in the container's PID namespace
	uid          string // the real uid, as the host sees it
	command      string
}

func (tc *topCmd) Run(g *cli) error {
	store, err := g.openStore()
	if err != nil {
		return err
	}
	c, err := store.Get(tc.Container)
	if err != nil {
		return err
	}
	if st := c.CurrentStatus(); !st.Live() {
		return fmt.Errorf("container %s is not running (%s)", c.Name, st)
	}
	procs, err := processesOf(c.Pid)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, "HOST PID\tPID\tUID\tCOMMAND")
	for _, p := range procs {
		fmt.Fprintf(w, "%d\t%d\t%s\t%s\n", p.hostPID, p.pid, p.uid, p.command)
	}
	return w.Flush()
}

// processesOf lists the processes in the PID namespace of init, ordered
// by their PID inside: every process whose /proc/PID/ns/pid is init's.
func processesOf(init int) ([]containerProcess, error) {
	ns, err := namespaces.Inode(init, "pid")
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []containerProcess
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if other, err := namespaces.Inode(pid, "pid"); err != nil || other != ns {
			continue // another namespace, or gone
		}
		p, err := readProcess(pid)
		if err != nil {
			continue // gone meanwhile
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pid < out[j].pid })
	return out, nil
}

// readProcess reads a process's PIDs and uid from /proc/PID/status and its
// command line from /proc/PID/cmdline.
func readProcess(hostPID int) (containerProcess, error) {
	p := containerProcess{hostPID: hostPID}
	dir := "/proc/" + strconv.Itoa(hostPID)
	f, err := os.Open(dir + "/status")
	if err != nil {
		return p, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(value)
		switch {
		case key == "NSpid" && len(fields) > 0:
			// The PID in each namespace from the host's down: the last is
			// the PID in the process's own namespace.
			p.pid, _ = strconv.Atoi(fields[len(fields)-1])
		case key == "Uid" && len(fields) > 0:
			p.uid = fields[0]
		}
	}
	cmdline, err := os.ReadFile(dir + "/cmdline")
	if err != nil {
		return p, err
	}
	p.command = strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
	return p, nil
}
