package main

// inspect.go is the inspect command: what the runtime knows about a
// container, and what the kernel says about its process, as JSON.

import (
	"encoding/json"
	"os"
	"time"

	"box/final/internal/cgroups"
	"box/final/internal/namespaces"
	"box/final/internal/network"
	"box/final/internal/state"
)

type inspectCmd struct {
	Containers []string `arg:"" name:"container" help:"Names or IDs."`
}

// inspection is inspect's JSON for one container.
type inspection struct {
	ID         string            `json:"Id"`
	Name       string            `json:"Name"`
	Status     state.Status      `json:"Status"`
	Pid        int               `json:"Pid"`
	ExitCode   *int              `json:"ExitCode"`
	Created    time.Time         `json:"Created"`
	Started    *time.Time        `json:"Started,omitempty"`
	Finished   *time.Time        `json:"Finished,omitempty"`
	Command    []string          `json:"Command"`
	Rootfs     string            `json:"Rootfs"`
	Image      string            `json:"Image,omitempty"`
	Layers     []string          `json:"Layers"`
	Hostname   string            `json:"Hostname"`
	Env        []string          `json:"Env"`
	Workdir    string            `json:"Workdir"`
	Volumes    []state.Volume    `json:"Volumes"`
	ReadOnly   bool              `json:"ReadOnly"`
	Seccomp    string            `json:"Seccomp"`         // "default" (the syscall filter) or "unconfined"
	User       string            `json:"User"`            // USER[:GROUP] the command runs as; empty: root
	Ports      []string          `json:"Ports,omitempty"` // published: HOSTIP:HOSTPORT:CONTAINERPORT
	TTY        bool              `json:"Tty"`
	Init       bool              `json:"Init"`
	Network    string            `json:"Network"`
	Namespaces map[string]uint64 `json:"Namespaces"`
	Cgroup     string            `json:"Cgroup"`
	// Limits are the cgroup files the limits were written to, named as the
	// host's cgroup version names them, and the values written.
	Limits map[string]string `json:"Limits"`
	// Usage is what the kernel counted in the container's cgroup.
	Usage *cgroups.Usage `json:"Usage,omitempty"`
	// NetworkSettings are the veth pair's ends and addresses, with --net veth.
	NetworkSettings *network.Attachment `json:"NetworkSettings,omitempty"`
	StateDir        string              `json:"StateDir"`
	LogPath         string              `json:"LogPath,omitempty"`
	// LogConfig is --log-opt's caps of the log, as docker's LogConfig.Config.
	LogConfig map[string]string `json:"LogConfig,omitempty"`
}

func (i *inspectCmd) Run(g *cli) error {
	store, err := g.openStore()
	if err != nil {
		return err
	}
	var out []inspection
	for _, ref := range i.Containers {
		c, err := store.Get(ref)
		if err != nil {
			return err
		}
		out = append(out, inspect(c))
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// inspect gathers one container's inspection. The namespaces are the
// kernel's answer for a live process: the inode numbers of /proc/PID/ns/*,
// which equal those of any process in the same namespaces.
func inspect(c *state.Container) inspection {
	st := c.CurrentStatus()
	in := inspection{ID: c.ID, Name: c.Name, Status: st, ExitCode: c.ExitCode, Created: c.Created,
		Command: c.Config.Command, Rootfs: c.Config.Rootfs, Image: c.Config.Image, Layers: c.Config.Layers,
		Hostname: c.Config.Hostname, Env: c.Config.Env, Workdir: c.Config.Workdir, Volumes: c.Config.Volumes,
		ReadOnly: c.Config.ReadOnly, TTY: c.Config.TTY, Init: !c.Config.NoInit, Network: c.Config.Network,
		Cgroup: c.Cgroup, Limits: limitFiles(c), StateDir: c.Dir(), Seccomp: "default", User: c.Config.User, Ports: c.Config.Ports}
	if c.Config.Unconfined {
		in.Seccomp = "unconfined"
	}
	if !c.Started.IsZero() {
		in.Started = &c.Started
	}
	if !c.Finished.IsZero() {
		in.Finished = &c.Finished
	}
	if c.Config.Detach {
		in.LogPath, in.LogConfig = c.LogPath(), logConfig(c)
	}
	if st.Live() {
		in.Pid = c.Pid
		if inodes, err := namespaces.Inodes(c.Pid); err == nil {
			in.Namespaces = map[string]uint64{}
			for _, name := range c.Config.Namespaces {
				in.Namespaces[name] = inodes[name]
			}
		}
	}
	in.Usage = cgroupUsage(c)
	in.NetworkSettings = networkSettings(c)
	if in.Layers == nil {
		in.Layers = []string{}
	}
	if in.Limits == nil {
		in.Limits = map[string]string{}
	}
	if in.Volumes == nil {
		in.Volumes = []state.Volume{}
	}
	return in
}

// limitFiles names c's limits by the files of its cgroup's version (the
// state keeps v2's names): the version its cgroup was made in, or for a
// container without one, the host's.
func limitFiles(c *state.Container) map[string]string {
	if len(c.Config.Limits) == 0 {
		return nil
	}
	version := 0
	if rec, err := loadCgroupRecord(c); err == nil && rec.Cgroup != nil {
		version = rec.Cgroup.Version
	}
	if version == 0 {
		var err error
		if version, err = cgroups.Detect(); err != nil {
			return c.Config.Limits
		}
	}
	files, err := cgroups.FilesOf(c.Config.Limits, version)
	if err != nil {
		return c.Config.Limits
	}
	return files
}
