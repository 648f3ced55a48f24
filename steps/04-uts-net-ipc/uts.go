package main

// uts.go gives the container a hostname of its own. A UTS namespace
// (CLONE_NEWUTS) holds the hostname and NIS domain name that uname(2)
// reports, so sethostname(2) inside changes only the container's copy.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// maxHostname is HOST_NAME_MAX: sethostname(2) refuses longer names.
const maxHostname = 64

// newContainerID is a short random id that names a container: its default
// hostname, and the host end of its veth pair.
func newContainerID() (string, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make container id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// checkHostname accepts the names of RFC 1123: letters, digits, hyphens and
// dots, not starting with a hyphen or a dot. The kernel takes any bytes,
// but other programs choke on a hostname with a space or a slash.
func checkHostname(name string) error {
	if name == "" || len(name) > maxHostname {
		return fmt.Errorf("hostname %q: must be 1 to %d characters, like --hostname web1", name, maxHostname)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (r == '-' || r == '.') && i > 0
		if !ok {
			return fmt.Errorf("hostname %q: use only letters, digits, '-' and '.' (not first), like --hostname web1", name)
		}
	}
	return nil
}

// setHostname names the container in its own UTS namespace.
func setHostname(name string) error {
	explain(featUTS, "Name the container %s: the UTS namespace is its own copy, so the host keeps its hostname.", name)
	return sethostname(name)
}
