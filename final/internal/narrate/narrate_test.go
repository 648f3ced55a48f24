package narrate

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNarrationFormat(t *testing.T) {
	var buf bytes.Buffer
	Setup(true, &buf, false)
	defer Setup(false, nil, false)
	Explain(Mount, "Make every mount %s.", "private")
	Call(`mount("", "/", "", MS_REC|MS_PRIVATE, NULL)`)
	Result("= 0")
	Line(`execve("/bin/sh", ["sh"], [])`)
	Off()
	Explain(PID, "not printed")
	want := "# mount: Make every mount private.\n  mount(\"\", \"/\", \"\", MS_REC|MS_PRIVATE, NULL) = 0\n  execve(\"/bin/sh\", [\"sh\"], [])\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("narration mismatch (-want +got):\n%s", diff)
	}
}

func TestColorRules(t *testing.T) {
	tests := []struct {
		name     string
		noColor  string
		terminal bool
		want     bool
	}{
		{"terminal", "", true, true},
		{"pipe", "", false, false},
		{"NO_COLOR on a terminal", "1", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tt.noColor)
			t.Setenv("TERM", "xterm")
			Setup(true, &bytes.Buffer{}, tt.terminal)
			defer Setup(false, nil, false)
			if got := Colored(); got != tt.want {
				t.Errorf("Colored() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestQuietByDefault(t *testing.T) {
	var buf bytes.Buffer
	Setup(false, &buf, false)
	Explain(Net, "why")
	Call("socket()")
	Result("= 3")
	if buf.Len() != 0 {
		t.Errorf("narration printed %q while off", buf.String())
	}
}

func TestToRestores(t *testing.T) {
	var before, during bytes.Buffer
	Setup(false, &before, false)
	defer Setup(false, nil, false)
	restore := To(&during, false)
	Line("accept4(5, {sa_family=AF_UNIX}, [112 => 2], SOCK_CLOEXEC|SOCK_NONBLOCK) = 6")
	restore()
	Line("not printed")
	if got, want := during.String(), "  accept4(5, {sa_family=AF_UNIX}, [112 => 2], SOCK_CLOEXEC|SOCK_NONBLOCK) = 6\n"; got != want || before.Len() != 0 || Enabled() {
		t.Errorf("To: printed %q (want %q), before %q, enabled after restore %v", got, want, before.String(), Enabled())
	}
}
