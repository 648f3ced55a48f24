package namespaces

import (
	"box/final/internal/narrate"
	"box/final/internal/sys"
)

// LoopbackUp brings up lo in the container's new network namespace, which
// starts with lo alone, and down: without it, even 127.0.0.1 is unreachable.
func LoopbackUp() error {
	narrate.Explain(narrate.Net, "This network namespace has only lo, and it is down: bring it up, so 127.0.0.1 works inside.")
	return sys.LinkUp("lo")
}
