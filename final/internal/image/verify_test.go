package image

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestDigestInName(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for _, tt := range []struct {
		name string
		want string
	}{
		{"blobs/sha256/" + hex, "sha256:" + hex},
		{hex + ".json", "sha256:" + hex},
		{"manifest.json", ""},
		{hex + "/layer.tar", ""},
		{"blobs/sha256/" + hex[:10], ""},
		{"blobs/sha256/" + strings.ToUpper(hex), ""},
	} {
		got, ok := digestInName(tt.name)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("digestInName(%q) = %q, %v; want %q", tt.name, got, ok, tt.want)
		}
	}
}

func TestDamagedInput(t *testing.T) {
	for _, tt := range []struct {
		name    string
		err     error
		readErr error
		isTar   bool
		want    string
	}{
		{"cut in a file's data", errors.New("write x: unexpected EOF"), io.ErrUnexpectedEOF, true, "f is truncated"},
		{"tar cut short", io.ErrUnexpectedEOF, nil, true, "f is truncated"},
		{"shorter than a header", io.ErrUnexpectedEOF, nil, false, "f: unexpected EOF"},
		{"gzip checksum", errors.New("gzip: invalid checksum"), errors.New("gzip: invalid checksum"), true, "f is corrupt (gzip: invalid checksum)"},
		{"the store's own failure", errors.New("write x: no space left on device"), nil, true, "f: write x: no space left on device"},
	} {
		if got := damagedInput("f", tt.err, tt.readErr, tt.isTar).Error(); !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s: %q, want it to start %q", tt.name, got, tt.want)
		}
	}
}
