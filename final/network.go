package main

// network.go plugs package network into a container's life: run's --net
// and --subnet, the veth pair laid once the container's init exists (its
// network namespace with it), the pair deleted when the container ends,
// and the host ends of killed runtimes found and deleted.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"box/final/internal/network"
	"box/final/internal/state"
)

// networkFlags are run's network flags.
type networkFlags struct {
	Net    string `name:"net" default:"none" placeholder:"MODE" help:"none: the container has only lo; veth: also eth0, the end of a veth pair from the host, with an address from --subnet."`
	Subnet string `placeholder:"CIDR" help:"Where --net veth takes each container's /30 from: the host end gets its first address, eth0 the second (default 10.88.0.0/16)."`
}

// apply checks the flags and records the network in cfg.
func (f networkFlags) apply(cfg *state.Config) error {
	nc, err := network.Parse(f.Net, f.Subnet)
	if err != nil {
		return err
	}
	cfg.Network = nc.String()
	return nil
}

func init() {
	plugins = append(plugins, networkPlugin{})
}

// networkPlugin is the network code's plugin (see hooks.go).
type networkPlugin struct{}

// networkRecordFile keeps what Connect made, in the container's state
// directory, for inspect.
const networkRecordFile = "network.json"

// Create deletes the host ends that killed runtimes left, which only a
// namespace held open keeps alive, before this container takes addresses.
func (networkPlugin) Create(c *state.Container) error {
	if _, err := network.ParseConfig(c.Config.Network); err != nil {
		return err
	}
	_, err := network.RemoveStale(state.Supervised)
	return err
}

// Started lays the veth pair into the init's network namespace, which
// exists now, and configures both ends before the init goes on.
func (networkPlugin) Started(c *state.Container, pid int) error {
	nc, err := network.ParseConfig(c.Config.Network)
	if err != nil || nc.Mode != network.ModeVeth {
		return err
	}
	alias, err := network.Alias(c.Dir())
	if err != nil {
		return err
	}
	a, err := network.Connect(network.HostEnd(c.ID), alias, pid, nc.Subnet)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(a, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(c.Dir(), networkRecordFile), append(b, '\n'), 0o600)
	}
	if err != nil {
		return fmt.Errorf("save the network of %s: %w", c.Name, err)
	}
	return nil
}

// Exec has nothing to do: box exec enters the network namespace itself.
func (networkPlugin) Exec(c *state.Container, pid int) error { return nil }

// Remove deletes the container's veth pair, if it is still there.
func (networkPlugin) Remove(c *state.Container) error {
	nc, err := network.ParseConfig(c.Config.Network)
	if err != nil || nc.Mode != network.ModeVeth {
		return err
	}
	_, err = network.Disconnect(network.HostEnd(c.ID))
	return err
}

// Sweep deletes the host ends whose container no runtime looks after.
func (networkPlugin) Sweep() ([]string, error) {
	names, err := network.RemoveStale(state.Supervised)
	for i := range names {
		names[i] += " (veth host end)"
	}
	return names, err
}

// networkSettings is what inspect shows of a container's veth pair, or nil.
func networkSettings(c *state.Container) *network.Attachment {
	b, err := os.ReadFile(filepath.Join(c.Dir(), networkRecordFile))
	if errors.Is(err, fs.ErrNotExist) || err != nil {
		return nil
	}
	var a network.Attachment
	if json.Unmarshal(b, &a) != nil {
		return nil
	}
	return &a
}
