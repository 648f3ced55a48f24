package rootfs

import "box/final/internal/sys"

// oci.go lends the OCI container side (package lifecycle) the steps that
// an OCI bundle's container shares with box run's.

// SwitchRoot makes dir the root of the mount namespace with pivot_root(2)
// and detaches the old root (see switchRoot).
func SwitchRoot(dir string) error { return switchRoot(dir) }

// MoveRoot moves dir over / and chroots into it, for runc's --no-pivot
// (a root that pivot_root cannot leave, like an initramfs).
func MoveRoot(dir string) error {
	if err := sys.Chdir(dir); err != nil {
		return err
	}
	return moveRoot()
}
