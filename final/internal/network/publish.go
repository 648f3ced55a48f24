package network

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"box/final/internal/narrate"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// Port is one -p mapping: connections to HostIP:HostPort on the host go
// to ContainerPort at the container's address. Only TCP.
type Port struct {
	HostIP        netip.Addr
	HostPort      uint16
	ContainerPort uint16
}

// ParsePort reads -p [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp], as docker
// writes it; without HOSTIP the port listens on every host address.
func ParsePort(spec string) (Port, error) {
	bad := func(why string) (Port, error) {
		return Port{}, fmt.Errorf("-p %q: %s; write it as HOSTPORT:CONTAINERPORT, like -p 8080:80, or 127.0.0.1:8080:80", spec, why)
	}
	s, proto, hasProto := strings.Cut(spec, "/")
	if hasProto && proto != "tcp" {
		return bad("only TCP ports can be published")
	}
	parts := strings.Split(s, ":")
	p := Port{HostIP: netip.IPv4Unspecified()}
	switch len(parts) {
	case 2:
	case 3:
		ip, err := netip.ParseAddr(parts[0])
		if err != nil || !ip.Is4() {
			return bad("the host address must be an IPv4 address")
		}
		p.HostIP = ip
		parts = parts[1:]
	default:
		return bad("want two or three parts")
	}
	host, err1 := strconv.ParseUint(parts[0], 10, 16)
	ctr, err2 := strconv.ParseUint(parts[1], 10, 16)
	if err1 != nil || err2 != nil || host == 0 || ctr == 0 {
		return bad("ports are numbers from 1 to 65535")
	}
	p.HostPort, p.ContainerPort = uint16(host), uint16(ctr)
	return p, nil
}

// String is p as ParsePort reads it.
func (p Port) String() string {
	return fmt.Sprintf("%s:%d:%d", p.HostIP, p.HostPort, p.ContainerPort)
}

// dialTimeout bounds the connection to the container, which may not be
// listening yet.
const dialTimeout = 5 * time.Second

// Publisher forwards the published ports to a container: a small proxy in
// the runtime, as docker's docker-proxy, since the network namespace has
// no route from the host's other addresses (and ubuntu images have no
// iptables to add NAT rules with).
type Publisher struct {
	listeners []*sys.TCPListener
	mu        sync.Mutex
	conns     map[net.Conn]bool // open connections, closed by Close
	wg        sync.WaitGroup
}

// Publish listens on each port's host address and forwards what it
// accepts to the container at addr. It listens before it returns, so a
// port in use fails the run before the command starts.
func Publish(ports []Port, addr netip.Addr) (*Publisher, error) {
	p := &Publisher{conns: map[net.Conn]bool{}}
	for _, port := range ports {
		narrate.Explain(narrate.Net, "Publish %s:%d: listen on the host, and pass each connection to %s:%d in the container (a proxy, like docker-proxy).", port.HostIP, port.HostPort, addr, port.ContainerPort)
		l, err := sys.ListenTCP(netip.AddrPortFrom(port.HostIP, port.HostPort))
		if err != nil {
			p.Close()
			if errors.Is(err, unix.EADDRINUSE) {
				return nil, fmt.Errorf("-p %s: host port %d is in use; choose another", port, port.HostPort)
			}
			return nil, fmt.Errorf("-p %s: %w", port, err)
		}
		p.listeners = append(p.listeners, l)
		target := netip.AddrPortFrom(addr, port.ContainerPort)
		p.wg.Add(1)
		go p.serve(l, target)
	}
	return p, nil
}

// serve accepts connections on l until it is closed.
func (p *Publisher) serve(l *sys.TCPListener, target netip.AddrPort) {
	defer p.wg.Done()
	for {
		client, err := l.Accept()
		if err != nil {
			return // closed
		}
		p.wg.Add(1)
		go p.forward(client, target)
	}
}

// forward copies between client and a new connection to target, each way
// until its end, then closes both.
func (p *Publisher) forward(client *net.TCPConn, target netip.AddrPort) {
	defer p.wg.Done()
	if !p.track(client) {
		client.Close()
		return
	}
	defer p.untrack(client)
	server, err := sys.DialTCP(target, dialTimeout)
	if err != nil {
		return
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	pipe := func(to, from *net.TCPConn) {
		_, _ = io.Copy(to, from)
		_ = to.CloseWrite() // pass the end of the stream on
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
}

// track records an open connection, unless the publisher is closed.
func (p *Publisher) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = true
	return true
}

func (p *Publisher) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// Close stops listening, closes the open connections and waits for the
// forwarding to end.
func (p *Publisher) Close() {
	if p == nil {
		return
	}
	for _, l := range p.listeners {
		l.Close()
	}
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
