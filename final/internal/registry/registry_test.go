package registry

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseChallenge(t *testing.T) {
	tests := []struct {
		in     string
		scheme string
		params map[string]string
	}{
		{`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push"`, "Bearer",
			map[string]string{"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/alpine:pull,push"}},
		{`Basic realm="box-test"`, "Basic", map[string]string{"realm": "box-test"}},
		{`Bearer realm=http://h/t, service=s`, "Bearer", map[string]string{"realm": "http://h/t", "service": "s"}},
	}
	for _, tt := range tests {
		scheme, params := parseChallenge(tt.in)
		if scheme != tt.scheme || !cmp.Equal(params, tt.params) {
			t.Errorf("parseChallenge(%q) = %q, %v; want %q, %v", tt.in, scheme, params, tt.scheme, tt.params)
		}
	}
}

func TestPlatforms(t *testing.T) {
	arm64, err := ParsePlatform("linux/arm64")
	if err != nil || arm64 != (Platform{"linux", "arm64", "v8"}) {
		t.Fatalf("ParsePlatform(linux/arm64) = %+v, %v", arm64, err)
	}
	for _, tt := range []struct {
		want, have Platform
		match      bool
	}{
		{arm64, Platform{"linux", "arm64", ""}, true},
		{arm64, Platform{"linux", "arm64", "v8"}, true},
		{arm64, Platform{"linux", "arm", "v8"}, false},
		{Platform{"linux", "arm", "v7"}, Platform{"linux", "arm", "v6"}, false},
		{Platform{"linux", "amd64", ""}, Platform{"linux", "amd64", ""}, true},
		{Platform{"linux", "amd64", ""}, Platform{"windows", "amd64", ""}, false},
	} {
		if got := tt.want.matches(tt.have); got != tt.match {
			t.Errorf("%s matches %s = %v, want %v", tt.want, tt.have, got, tt.match)
		}
	}
	for _, bad := range []string{"linux", "linux/", "/amd64", "a/b/c/d"} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("ParsePlatform(%q) gave no error", bad)
		}
	}
}

func TestCredentials(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.json")
	// "learner:s3cret" and "hub:pw" in base64.
	data := `{"auths": {"127.0.0.1:5000": {"auth": "bGVhcm5lcjpzM2NyZXQ="}, "https://index.docker.io/v1/": {"auth": "aHViOnB3"}}}`
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	for domain, want := range map[string]*credentials{
		"127.0.0.1:5000": {user: "learner", password: "s3cret", file: file},
		"docker.io":      {user: "hub", password: "pw", file: file},
		"ghcr.io":        nil,
	} {
		got, err := loadCredentials(file, domain)
		if err != nil || !cmp.Equal(got, want, cmp.AllowUnexported(credentials{})) {
			t.Errorf("loadCredentials(%s) = %+v, %v; want %+v", domain, got, err, want)
		}
	}
	if _, err := loadCredentials(filepath.Join(t.TempDir(), "missing.json"), "x"); err == nil {
		t.Errorf("a missing --auth-file gave no error")
	}
}

func TestCheckMediaTypes(t *testing.T) {
	digest := "sha256:" + strings.Repeat("a", 64)
	m := func(config, layer string) Manifest {
		return Manifest{Config: Descriptor{MediaType: config, Digest: digest}, Layers: []Descriptor{{MediaType: layer, Digest: digest}}}
	}
	tests := []struct {
		m       Manifest
		wantErr string
	}{
		{m(MediaOCIConfig, MediaOCILayerGzip), ""},
		{m(MediaDockerConfig, MediaDockerLayer), ""},
		{m(MediaOCIConfig, MediaOCILayer), ""},
		{m(MediaOCIConfig, "application/vnd.oci.image.layer.v1.tar+zstd"), "zstd-compressed"},
		{m("application/vnd.cncf.helm.config.v1+json", MediaOCILayerGzip), "not a container image"},
		{m(MediaOCIConfig, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"), "does not unpack"},
	}
	for _, tt := range tests {
		err := checkMediaTypes(tt.m, "pull x")
		if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("checkMediaTypes(%s, %s) = %v, want %q", tt.m.Config.MediaType, tt.m.Layers[0].MediaType, err, tt.wantErr)
		}
	}
}

func TestProgress(t *testing.T) {
	var plain bytes.Buffer
	p := NewProgress(&plain, false, []string{"aaa", "bbb"})
	p.Start("aaa", 2000, 0)
	p.Add("aaa", 2000)
	p.Done("aaa", "downloaded 2.00kB")
	p.Start("bbb", 3000, 1000)
	p.Done("bbb", "downloaded 3.00kB")
	Stop(p)
	want := "aaa: downloading 2.00kB\naaa: downloaded 2.00kB\nbbb: resuming at 1.00kB of 3.00kB\nbbb: downloaded 3.00kB\n"
	if plain.String() != want {
		t.Errorf("plain progress:\n%s\nwant:\n%s", plain.String(), want)
	}
	var tty bytes.Buffer
	p = NewProgress(&tty, true, []string{"aaa"})
	p.Start("aaa", 2000, 0)
	p.Add("aaa", 1000)
	Stop(p)
	// The first picture, then the last one drawn over it in place.
	if got := tty.String(); !strings.HasPrefix(got, "\x1b[2Kaaa: waiting\n\x1b[1A\x1b[2K") || !strings.Contains(got, "\x1b[1A\x1b[2Kaaa: downloading 1.00kB/2.00kB") {
		t.Errorf("terminal progress = %q", got)
	}
}
