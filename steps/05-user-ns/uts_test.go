package main

import (
	"strings"
	"testing"
)

func TestCheckHostname(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string
	}{
		{name: "web1"},
		{name: "a"},
		{name: "db-2.example.org"},
		{name: strings.Repeat("a", 64)},
		{name: "", wantErr: "1 to 64 characters"},
		{name: strings.Repeat("a", 65), wantErr: "1 to 64 characters"},
		{name: "bad name", wantErr: "only letters"},
		{name: "-web", wantErr: "only letters"},
		{name: ".web", wantErr: "only letters"},
		{name: "a/b", wantErr: "only letters"},
		{name: "héllo", wantErr: "only letters"},
	}
	for _, tt := range tests {
		err := checkHostname(tt.name)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("checkHostname(%q) = %v, want error containing %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestNewContainerID(t *testing.T) {
	id, err := newContainerID()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkHostname(id); err != nil || len(hostEndPrefix+id) > 15 {
		t.Errorf("id %q: %v, or host end %q longer than IFNAMSIZ-1", id, err, hostEndPrefix+id)
	}
}
