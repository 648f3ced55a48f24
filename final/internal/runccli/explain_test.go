package runccli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHeadedWritesHeaderOnce: the header comes with the first line, in the
// same write (so another process's line cannot land between them), and
// never again; a command that writes nothing leaves nothing.
func TestHeadedWritesHeaderOnce(t *testing.T) {
	var writes []string
	w := &headed{w: writerFunc(func(p []byte) (int, error) {
		writes = append(writes, string(p))
		return len(p), nil
	}), header: explainLogHeader([]string{"start", "demo"})}
	for _, line := range []string{"# process: one\n", "  two\n"} {
		if n, err := w.Write([]byte(line)); n != len(line) || err != nil {
			t.Fatalf("Write(%q) = %d, %v; want %d, nil", line, n, err, len(line))
		}
	}
	want := []string{"=== box-runc start demo\n# process: one\n", "  two\n"}
	if diff := cmp.Diff(want, writes); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	if h := explainLogHeader(nil); !strings.HasPrefix(h, explainHeader) {
		t.Errorf("header %q does not start with %q", h, explainHeader)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
