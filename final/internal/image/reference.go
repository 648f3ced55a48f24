package image

// reference.go reads image names as docker does: "alpine" is
// docker.io/library/alpine:latest, "sk/img:2" is docker.io/sk/img:2, and a
// first component with a dot or a port, or "localhost", is a registry:
// 127.0.0.1:5000/team/app:v1. The store keeps each image under its short
// ("familiar") name, so docker.io/sk/img:2 and sk/img:2 are one image.

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// DockerHub is the registry a name without a host is on.
const DockerHub = "docker.io"

// Reference is an image name taken apart.
type Reference struct {
	Domain string // registry host[:port]; docker.io for Docker Hub
	Path   string // repository, like library/alpine
	Tag    string // "" only when Digest is set and no tag was given
	Digest string // sha256:HEX when the name pins one manifest
}

// The rules are compiled at first use, not at start: the container's
// init is a copy of this program and reads no image name.
var (
	// pathComponent is one component of a repository path, as docker reads it.
	pathComponent = lazyRegexp(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$`)
	// domainRule is a host name or IPv4 address, with an optional port.
	domainRule = lazyRegexp(`^([A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*(:[0-9]{1,5})?$`)
	tagRule    = lazyRegexp(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
)

// lazyRegexp compiles expr the first time the function it returns is called.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// maxTagLen is docker's limit on a tag, checked apart from tagRule: a
// bounded repeat compiles to that many copies, which every box process
// would pay for at start.
const maxTagLen = 128

// ParseReference reads an image name: [HOST[:PORT]/]PATH[:TAG][@sha256:HEX].
func ParseReference(name string) (Reference, error) {
	bad := func() (Reference, error) {
		return Reference{}, fmt.Errorf("image name %q: use lower-case letters, digits and . _ - /, and an optional :tag, like alpine:3.19 (a registry host[:port]/ may come first, and @sha256:DIGEST last)", name)
	}
	var ref Reference
	rest := name
	if i := strings.Index(rest, "@"); i >= 0 {
		rest, ref.Digest = rest[:i], rest[i+1:]
		if !ValidDigest(ref.Digest) {
			return Reference{}, fmt.Errorf("image name %q: the digest after @ must be sha256: and 64 lower-case hex digits", name)
		}
	}
	// The first component is a registry when it looks like a host, as in
	// docker: it has a dot or a port, or it is localhost.
	if i := strings.Index(rest, "/"); i >= 0 {
		first := rest[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" {
			ref.Domain, rest = first, rest[i+1:]
			if !domainRule().MatchString(ref.Domain) {
				return bad()
			}
		}
	}
	if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.Contains(rest[i:], "/") {
		rest, ref.Tag = rest[:i], rest[i+1:]
		if !tagRule().MatchString(ref.Tag) || len(ref.Tag) > maxTagLen {
			return bad()
		}
	}
	if rest == "" {
		return bad()
	}
	for _, c := range strings.Split(rest, "/") {
		if !pathComponent().MatchString(c) {
			return bad()
		}
	}
	ref.Path = rest
	switch ref.Domain {
	case "", "index.docker.io", "registry-1.docker.io":
		ref.Domain = DockerHub
	}
	if ref.Domain == DockerHub && !strings.Contains(ref.Path, "/") {
		ref.Path = "library/" + ref.Path
	}
	if ref.Tag == "" && ref.Digest == "" {
		ref.Tag = "latest"
	}
	return ref, nil
}

// String is the full name: docker.io/library/alpine:latest.
func (r Reference) String() string { return r.Domain + "/" + r.Path + r.suffix() }

// Familiar is the short name docker shows and the store keeps:
// alpine:latest, sk/img:2, 127.0.0.1:5000/team/app:v1.
func (r Reference) Familiar() string { return r.FamiliarRepo() + r.suffix() }

// FamiliarRepo is the short name without tag or digest.
func (r Reference) FamiliarRepo() string {
	if r.Domain != DockerHub {
		return r.Domain + "/" + r.Path
	}
	if p, ok := strings.CutPrefix(r.Path, "library/"); ok && !strings.Contains(p, "/") {
		return p
	}
	return r.Path
}

func (r Reference) suffix() string {
	s := ""
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// Object is what the registry's manifest endpoint takes: the digest when
// the name pins one, else the tag.
func (r Reference) Object() string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}

// RegistryHost is the host to ask: Docker Hub's API is not on docker.io.
func (r Reference) RegistryHost() string {
	if r.Domain == DockerHub {
		return "registry-1.docker.io"
	}
	return r.Domain
}

// NormalizeName checks an image name and gives the name the store keeps
// it under: the familiar form, with :latest added when it has no tag, as
// docker does.
func NormalizeName(name string) (string, error) {
	ref, err := ParseReference(name)
	if err != nil {
		return "", err
	}
	return ref.Familiar(), nil
}
