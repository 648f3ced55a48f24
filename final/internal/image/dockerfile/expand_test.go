package dockerfile

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	env := []string{"APP=/srv/app", "USER_ID=1000", "EMPTY=", "APP=/opt/app"}
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "plain", want: "plain"},
		{in: "$APP/bin", want: "/opt/app/bin"}, // the later ENV wins
		{in: "${APP}_data", want: "/opt/app_data"},
		{in: "$USER_ID:$USER_ID", want: "1000:1000"},
		{in: "$NOPE/x", want: "/x"},
		{in: "${NOPE:-/default}", want: "/default"},
		{in: "${EMPTY:-fallback}", want: "fallback"},
		{in: "${APP:-fallback}", want: "/opt/app"},
		{in: "${APP:+set}", want: "set"},
		{in: "${NOPE:+set}", want: ""},
		{in: "cost: 5$", want: "cost: 5$"},
		{in: "${APP", wantErr: "without its closing }"},
		{in: "${1X}", wantErr: "not a variable name"},
		{in: "${APP:?oops}", wantErr: "only ${NAME:-default}"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Expand(tt.in, env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Expand(%q) error = %v, want one with %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}
