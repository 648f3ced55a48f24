package network

// stale.go finds the host ends that no runtime looks after any more. A
// pair dies with the container's network namespace, and that namespace
// with its last process; but an open /proc/PID/ns/net or a bind mount of
// it keeps the namespace, and the pair, alive after the container's
// runtime was killed. Each host end carries a label (its alias) naming its
// container's state directory, and a runtime holds a lock in that
// directory for as long as it looks after the container.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"box/final/internal/narrate"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// aliasPrefix starts every label we write; other programs' links, and
// those of the steps, carry other labels or none.
const aliasPrefix = "box container "

// Alias is the label of a host end whose container's state is in dir. It
// names our mount namespace too: a path means something only in its own.
func Alias(dir string) (string, error) {
	mnt, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return "", fmt.Errorf("read our mount namespace: %w", err)
	}
	return aliasPrefix + mnt + " " + dir, nil
}

// parseAlias reads the state directory back from a label, if it is ours
// and written in our mount namespace.
func parseAlias(alias, ourMnt string) (dir string, ok bool) {
	rest, found := strings.CutPrefix(alias, aliasPrefix)
	if !found {
		return "", false
	}
	mnt, dir, found := strings.Cut(rest, " ")
	if !found || mnt != ourMnt || dir == "" {
		return "", false
	}
	return dir, true
}

// link is a link's name and label, from a dump.
type link struct{ name, alias string }

// RemoveStale deletes the host ends whose container no runtime looks
// after, as supervised tells for a state directory, and returns their
// names. Listing the links is a read and is not narrated; deleting is.
func RemoveStale(supervised func(dir string) bool) ([]string, error) {
	ourMnt, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return nil, fmt.Errorf("read our mount namespace: %w", err)
	}
	links, err := listLinks()
	if err != nil {
		return nil, err
	}
	var stale []string
	for _, l := range links {
		if !strings.HasPrefix(l.name, hostEndPrefix) {
			continue
		}
		if dir, ok := parseAlias(l.alias, ourMnt); ok && !supervised(dir) {
			stale = append(stale, l.name)
		}
	}
	if len(stale) == 0 {
		return nil, nil
	}
	narrate.Explain(narrate.Net, "Delete host ends whose container no runtime looks after (its runtime was killed): %s.", strings.Join(stale, ", "))
	nl, err := sys.OpenRouteSocket()
	if err != nil {
		return nil, err
	}
	defer nl.Close()
	var removed []string
	for _, name := range stale {
		err := send(nl, delLinkRequest(name))
		if err != nil && !isGone(err) {
			return removed, err
		}
		if err == nil {
			removed = append(removed, name)
		}
	}
	return removed, nil
}

// isGone tells whether err says the link is already gone.
func isGone(err error) bool {
	return errors.Is(err, unix.ENODEV)
}

// listLinks lists our network namespace's links with their labels.
func listLinks() ([]link, error) {
	r := dumpLinksRequest()
	msgs, err := sys.DumpRoute(r.encode())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.what, err)
	}
	var links []link
	for i := range msgs {
		if msgs[i].Header.Type != unix.RTM_NEWLINK {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&msgs[i])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.what, err)
		}
		var l link
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_IFNAME:
				l.name = string(bytes.TrimRight(a.Value, "\x00"))
			case unix.IFLA_IFALIAS:
				l.alias = string(bytes.TrimRight(a.Value, "\x00"))
			}
		}
		links = append(links, l)
	}
	return links, nil
}
