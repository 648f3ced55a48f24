//go:build !amd64 && !arm64

package security

// seccompTable: no table for this architecture yet.
func seccompTable() (seccompTableOf, bool) { return seccompTableOf{}, false }
