package image

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseReference(t *testing.T) {
	tests := []struct {
		in       string
		want     Reference
		full     string
		familiar string
		host     string
	}{
		{"alpine", Reference{"docker.io", "library/alpine", "latest", ""}, "docker.io/library/alpine:latest", "alpine:latest", "registry-1.docker.io"},
		{"ubuntu:24.04", Reference{"docker.io", "library/ubuntu", "24.04", ""}, "docker.io/library/ubuntu:24.04", "ubuntu:24.04", "registry-1.docker.io"},
		{"docker.io/library/alpine:3.20", Reference{"docker.io", "library/alpine", "3.20", ""}, "docker.io/library/alpine:3.20", "alpine:3.20", "registry-1.docker.io"},
		{"index.docker.io/sk/img:2", Reference{"docker.io", "sk/img", "2", ""}, "docker.io/sk/img:2", "sk/img:2", "registry-1.docker.io"},
		{"sk/img:2", Reference{"docker.io", "sk/img", "2", ""}, "docker.io/sk/img:2", "sk/img:2", "registry-1.docker.io"},
		{"localhost/app", Reference{"localhost", "app", "latest", ""}, "localhost/app:latest", "localhost/app:latest", "localhost"},
		{"127.0.0.1:5000/team/app:v1", Reference{"127.0.0.1:5000", "team/app", "v1", ""}, "127.0.0.1:5000/team/app:v1", "127.0.0.1:5000/team/app:v1", "127.0.0.1:5000"},
		{"ghcr.io/o/r/x", Reference{"ghcr.io", "o/r/x", "latest", ""}, "ghcr.io/o/r/x:latest", "ghcr.io/o/r/x:latest", "ghcr.io"},
		{"alpine@sha256:" + strings.Repeat("a", 64), Reference{"docker.io", "library/alpine", "", "sha256:" + strings.Repeat("a", 64)},
			"docker.io/library/alpine@sha256:" + strings.Repeat("a", 64), "alpine@sha256:" + strings.Repeat("a", 64), "registry-1.docker.io"},
	}
	for _, tt := range tests {
		got, err := ParseReference(tt.in)
		if err != nil {
			t.Errorf("ParseReference(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseReference(%q) (-want +got):\n%s", tt.in, diff)
		}
		if got.String() != tt.full || got.Familiar() != tt.familiar || got.RegistryHost() != tt.host {
			t.Errorf("ParseReference(%q) = %s, %s, host %s; want %s, %s, host %s", tt.in, got, got.Familiar(), got.RegistryHost(), tt.full, tt.familiar, tt.host)
		}
	}
	for _, bad := range []string{"", "Alpine", "a:b:c", "../up", "alpine@sha256:abc", "host:port/x", "x/", "a//b", "alpine:" + strings.Repeat("t", 129), "-x/y"} {
		if got, err := ParseReference(bad); err == nil {
			t.Errorf("ParseReference(%q) = %+v, want an error", bad, got)
		}
	}
}
