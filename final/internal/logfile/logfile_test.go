package logfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readLog concatenates the log's files, oldest first, as box logs does.
func readLog(t *testing.T, path string) (string, []int64) {
	t.Helper()
	files, err := Files(path)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	var sizes []int64
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
		sizes = append(sizes, int64(len(b)))
	}
	return all.String(), sizes
}

func TestWriterRotates(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxSize  int64
		maxFiles int
		writes   []string
		want     string  // all files, oldest first
		sizes    []int64 // of each file, oldest first
	}{
		{"under the cap", 100, 3, []string{"a\n", "b\n"}, "a\nb\n", []int64{4}},
		{"no cap", 0, 3, []string{strings.Repeat("x\n", 100)}, strings.Repeat("x\n", 100), []int64{200}},
		{"cut after the last whole line", 10, 3, []string{"1234\n5678\n9\n"}, "1234\n5678\n9\n", []int64{10, 2}},
		{"a line that does not fit moves on", 10, 3, []string{"12345678\n", "abc\n"}, "12345678\nabc\n", []int64{9, 4}},
		{"a line longer than a file is cut", 4, 3, []string{"abcdefghij"}, "abcdefghij", []int64{4, 4, 2}},
		{"the oldest goes", 4, 3, []string{"1\n", "22\n", "33\n", "44\n", "55\n"}, "33\n44\n55\n", []int64{3, 3, 3}},
		{"one file starts over", 4, 1, []string{"111\n", "222\n", "3\n"}, "222\n3\n", nil},
		{"a line begun at a file's end moves on whole", 12, 3, []string{"12345678\nab", "cd\n"}, "12345678\nabcd\n", []int64{9, 5}},
		{"in one file too", 12, 1, []string{"12345678\nab", "cd\n"}, "abcd\n", nil},
		{"a line longer than a file is not moved", 6, 3, []string{"1\nabcd", "efgh\n"}, "1\nabcdefgh\n", []int64{6, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "container.log")
			w, err := Open(path, tc.maxSize, tc.maxFiles)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			w.Close()
			got, sizes := readLog(t, path)
			if tc.maxFiles == 1 {
				// One file: it started over, so it holds the last writes.
				if !strings.HasSuffix(tc.want, got) || int64(len(got)) > tc.maxSize {
					t.Errorf("log %q: want a tail of %q of at most %d bytes", got, tc.want, tc.maxSize)
				}
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("log (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.sizes, sizes); diff != "" {
				t.Errorf("file sizes, oldest first (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWriterCap writes far more than the cap in writes of many sizes: no
// file ever passes max-size, there are never more than max-file files,
// and the newest output is all there, in order.
func TestWriterCap(t *testing.T) {
	const maxSize, maxFiles = 1000, 3
	dir := t.TempDir()
	path := filepath.Join(dir, "container.log")
	w, err := Open(path, maxSize, maxFiles)
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for i := 0; i < 2000; i++ {
		var chunk bytes.Buffer
		for j := 0; j < i%7; j++ {
			fmt.Fprintf(&chunk, "line %d.%d %s\n", i, j, strings.Repeat("y", i%50))
		}
		all.Write(chunk.Bytes())
		if n, err := w.Write(chunk.Bytes()); n != chunk.Len() || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) > maxFiles {
			t.Fatalf("%d files, want at most %d", len(entries), maxFiles)
		}
		for _, e := range entries {
			if info, _ := e.Info(); info.Size() > maxSize {
				t.Fatalf("%s has %d bytes, past the cap of %d", e.Name(), info.Size(), maxSize)
			}
		}
	}
	w.Close()
	got, sizes := readLog(t, path)
	if len(sizes) != maxFiles {
		t.Errorf("%d files, want %d", len(sizes), maxFiles)
	}
	if !strings.HasSuffix(all.String(), got) || len(got) < (maxFiles-1)*maxSize*9/10 {
		t.Errorf("the log is not the newest output (%d bytes of it)", len(got))
	}
}

// TestWriterReopens checks that a log that was there is appended to and
// that a current file over the cap (a smaller cap than before) rotates.
func TestWriterReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "container.log")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := Open(path, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("ab\n")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, sizes := readLog(t, path)
	if got != "old\nab\n" || !cmp.Equal(sizes, []int64{4, 3}) {
		t.Errorf("log %q in files of %v bytes; want old\\nab\\n in files of 4 and 3", got, sizes)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "container.log")
	for _, name := range []string{"container.log.1", "container.log.10", "container.log.2", "container.log.01", "container.log.x", "state.json"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Files(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{path + ".10", path + ".2", path + ".1", path}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Files (-want +got):\n%s", diff)
	}
}

// TestWriterAllocatesNothing checks that neither a write nor a rotation
// allocates: the monitor copies for the container's whole life, and
// garbage would grow its heap until a collection.
func TestWriterAllocatesNothing(t *testing.T) {
	w, err := Open(filepath.Join(t.TempDir(), "container.log"), 100, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	line := []byte(strings.Repeat("x", 49) + "\n")
	// Three lines of 50 bytes pass the cap of 100: each run rotates.
	if n := testing.AllocsPerRun(100, func() {
		for i := 0; i < 3; i++ {
			if _, err := w.Write(line); err != nil {
				t.Fatal(err)
			}
		}
	}); n != 0 {
		t.Errorf("%v allocations per rotation, want none", n)
	}
}
