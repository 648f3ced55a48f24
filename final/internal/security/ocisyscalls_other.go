//go:build !amd64 && !arm64

package security

// syscallNumbers is empty where this runtime has no table: an OCI
// seccomp profile is then refused.
var syscallNumbers = func() map[string]uint32 { return nil }
