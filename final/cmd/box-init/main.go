// Command box-init is the container side of box: the program box run and
// box-runc start in a container's new namespaces, which builds the
// container and starts (box run) or becomes (box-runc) the command. It is
// a program of its own, not box itself, so that what starts in every
// container is small: it links no command line parser, no image store, no
// registry client (net/http, crypto/tls), whose code and package
// initialization box needs and a container's init does not. box and
// box-runc find it next to their own executable (make build puts it in
// bin/ beside them), and execute it through an O_PATH descriptor.
//
//	box-init init          box run's init (internal/runinit): fds 3-9 as supervise.go gives them
//	box-init oci-init BASE box-runc's container process (internal/lifecycle): fds from BASE on
package main

import (
	"fmt"
	"os"
	"strconv"

	"box/final/internal/lifecycle"
	"box/final/internal/narrate"
	"box/final/internal/runinit"
)

// init runs the container side, which never returns, from a package init
// function: the Go runtime runs those on the program's first thread,
// locked to it, which keeps each on one thread without
// runtime.LockOSThread and the thread that starts (see runinit.Main).
func init() {
	switch {
	case len(os.Args) == 2 && os.Args[1] == "init":
		narrate.Setup(false, os.Stderr, false)
		runinit.Main()
	case len(os.Args) == 3 && os.Args[1] == "oci-init":
		base, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fmt.Fprintf(os.Stderr, "box-init: oci-init %q: want a descriptor number\n", os.Args[2])
			os.Exit(runinit.ExitSetupFailed)
		}
		lifecycle.Init(base)
	}
}

func main() {
	fmt.Fprintln(os.Stderr, "box-init: the container side of box, started by box run and box-runc create with descriptors to read; it is not run by hand (see box --help)")
	os.Exit(runinit.ExitSetupFailed)
}
