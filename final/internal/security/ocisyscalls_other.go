//go:build !amd64 && !arm64

package security

// syscallNumbers is empty where this runtime has no table: an OCI
// seccomp profile is then refused.
var syscallNumbers = map[string]uint32{}
