package namespaces

import (
	"box/final/internal/narrate"
	"box/final/internal/sys"
)

// SetHostname names the container. Run inside the new UTS namespace, it
// changes only the container's hostname, never the host's.
func SetHostname(name string) error {
	narrate.Explain(narrate.UTS, "Name the container %q: the UTS namespace has its own hostname.", name)
	return sys.Sethostname(name)
}
