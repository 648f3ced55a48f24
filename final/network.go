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
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"box/final/internal/network"
	"box/final/internal/state"
)

// networkFlags are run's network flags.
type networkFlags struct {
	Net     string   `name:"net" default:"none" placeholder:"MODE" help:"none: the container has only lo; veth: also eth0, the end of a veth pair from the host, with an address from --subnet."`
	Subnet  string   `placeholder:"CIDR" help:"Where --net veth takes each container's /30 from: the host end gets its first address, eth0 the second (default 10.88.0.0/16)."`
	Publish []string `short:"p" name:"publish" sep:"none" placeholder:"[IP:]HOST:CTR" help:"With --net veth: pass TCP connections to host port HOST on to port CTR in the container."`
}

// apply checks the flags and records the network in cfg.
func (f networkFlags) apply(cfg *state.Config) error {
	nc, err := network.Parse(f.Net, f.Subnet)
	if err != nil {
		return err
	}
	cfg.Network = nc.String()
	for _, spec := range f.Publish {
		p, err := network.ParsePort(spec)
		if err != nil {
			return err
		}
		if nc.Mode != network.ModeVeth {
			return fmt.Errorf("-p %s needs --net veth: a container with only lo cannot be reached from the host", spec)
		}
		cfg.Ports = append(cfg.Ports, p.String())
	}
	return nil
}

// publishers are the port proxies of the containers this process
// supervises, by container ID: Started opens them, Remove closes them.
var publishers = struct {
	sync.Mutex
	m map[string]*network.Publisher
}{m: map[string]*network.Publisher{}}

// publish starts forwarding c's published ports to its address.
func publish(c *state.Container, a network.Attachment) error {
	if len(c.Config.Ports) == 0 {
		return nil
	}
	var ports []network.Port
	for _, spec := range c.Config.Ports {
		p, err := network.ParsePort(spec)
		if err != nil {
			return err
		}
		ports = append(ports, p)
	}
	addr, err := netip.ParsePrefix(a.Address)
	if err != nil {
		return fmt.Errorf("container address %q: %w", a.Address, err)
	}
	pub, err := network.Publish(ports, addr.Addr())
	if err != nil {
		return err
	}
	publishers.Lock()
	publishers.m[c.ID] = pub
	publishers.Unlock()
	return nil
}

// unpublish closes c's port proxies, if this process has them.
func unpublish(c *state.Container) {
	publishers.Lock()
	pub := publishers.m[c.ID]
	delete(publishers.m, c.ID)
	publishers.Unlock()
	pub.Close()
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
	return publish(c, a)
}

// Exec has nothing to do: box exec enters the network namespace itself.
func (networkPlugin) Exec(c *state.Container, pid int) error { return nil }

// Remove deletes the container's veth pair, if it is still there.
func (networkPlugin) Remove(c *state.Container) error {
	unpublish(c)
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
