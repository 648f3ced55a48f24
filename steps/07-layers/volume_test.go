package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseVolumes(t *testing.T) {
	host := t.TempDir()
	tests := []struct {
		spec    string
		want    volume
		wantErr string
	}{
		{spec: host + ":/data", want: volume{host: host, container: "/data"}},
		{spec: host + ":/data:ro", want: volume{host: host, container: "/data", readOnly: true}},
		{spec: host + ":/data/:rw", want: volume{host: host, container: "/data"}},
		{spec: "relative:/data", wantErr: "must be absolute"},
		{spec: host + ":data", wantErr: "must be absolute"},
		{spec: host, wantErr: "want HOST:CTR"},
		{spec: host + ":/data:rx", wantErr: "is not ro or rw"},
		{spec: host + ":/", wantErr: "container's root"},
		{spec: "/does/not/exist:/data", wantErr: "does not exist"},
		{spec: ":/data", wantErr: "want HOST:CTR"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := parseVolumes([]string{tt.spec})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseVolumes(%q) error = %v, want one containing %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseVolumes(%q): %v", tt.spec, err)
			}
			if diff := cmp.Diff([]volume{tt.want}, got, cmp.AllowUnexported(volume{})); diff != "" {
				t.Errorf("parseVolumes(%q) mismatch (-want +got):\n%s", tt.spec, diff)
			}
		})
	}
}
