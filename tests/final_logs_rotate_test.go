package tests

// final_logs_rotate_test.go checks the cap of a detached container's log
// (run -d --log-opt max-size, max-file): a container that writes far more
// than the cap, as fast as it can, never has more on disk than the cap,
// box logs and logs -f end with its newest output, and rm leaves nothing.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFinalLogsRotate(t *testing.T) {
	f := newFinal(t)
	const maxSize, maxFiles, lines = 32 << 10, 3, 400000 // about 2.7 MB of output, 28 times the cap
	id := f.detached("--name", "rotated", "--log-opt", "max-size=32k", "--log-opt", "max-file=3",
		"--rootfs", sharedRootfs(t), "seq", "1", strconv.Itoa(lines))
	dir := filepath.Join(f.state, "containers", id)

	// Watch the log's files while the container writes: no file may pass
	// max-size, there may be no more than max-file of them, and all of
	// them together no more than max-size*max-file.
	var watched struct {
		sync.Mutex
		most    int64
		samples int
		bad     []string
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				return // removed: the test is over
			}
			seen := map[uint64]bool{}
			var total int64
			for _, e := range entries {
				name := e.Name()
				if !strings.HasPrefix(name, "container.log") {
					continue
				}
				var st syscall.Stat_t
				if err := syscall.Stat(filepath.Join(dir, name), &st); err != nil {
					continue // rotated away meanwhile
				}
				if suffix := strings.TrimPrefix(name, "container.log"); suffix != "" && suffix != ".1" && suffix != ".2" {
					watched.Lock()
					watched.bad = append(watched.bad, "a file past max-file=3: "+name)
					watched.Unlock()
				}
				if st.Size > maxSize {
					watched.Lock()
					watched.bad = append(watched.bad, name+" has "+strconv.FormatInt(st.Size, 10)+" bytes, past max-size=32k")
					watched.Unlock()
				}
				// A rotation between two stats shows one file under two
				// names: count it once.
				if !seen[st.Ino] {
					seen[st.Ino] = true
					total += st.Size
				}
			}
			watched.Lock()
			watched.most = max(watched.most, total)
			watched.samples++
			watched.Unlock()
			time.Sleep(time.Millisecond) // leave the CPUs to the writer
		}
	}()
	follow := f.start("logs", "-f", "rotated")
	if r := f.mustBox("wait", "rotated"); strings.TrimSpace(r.stdout) != "0" {
		t.Errorf("wait printed %q, want 0", r.stdout)
	}
	close(stop)
	<-done
	if len(watched.bad) > 0 {
		t.Errorf("the log passed its cap %d times; first: %s", len(watched.bad), watched.bad[0])
	}
	if watched.most > maxSize*maxFiles {
		t.Errorf("the log's files held %d bytes at once, past max-size*max-file = %d", watched.most, maxSize*maxFiles)
	}
	t.Logf("%d looks at the log while it was written; the most it held: %d bytes", watched.samples, watched.most)

	// box logs: the newest lines, whole and in order, up to the last.
	logs := f.mustBox("logs", "rotated").stdout
	got := nonEmptyLines(logs)
	if len(logs) > maxSize*maxFiles || len(logs) < (maxFiles-1)*maxSize {
		t.Errorf("logs printed %d bytes, want between %d and %d", len(logs), (maxFiles-1)*maxSize, maxSize*maxFiles)
	}
	if len(got) == 0 || got[len(got)-1] != strconv.Itoa(lines) {
		t.Fatalf("logs should end with the last line, %d; got %d lines ending %q", lines, len(got), got[len(got)-1:])
	}
	first, _ := strconv.Atoi(got[0])
	for i, line := range got {
		if line != strconv.Itoa(first+i) {
			t.Fatalf("logs: line %d is %q, want %d: the kept output is not whole and in order", i, line, first+i)
		}
	}
	// logs -f followed the log across its rotations (it may miss files
	// rotated away between two looks, never the end).
	var followed []string
	for {
		line, err := follow.stdout.ReadString('\n')
		if err != nil {
			break
		}
		followed = append(followed, strings.TrimSuffix(line, "\n"))
	}
	if code := follow.wait(t); code != 0 || len(followed) == 0 || followed[len(followed)-1] != strconv.Itoa(lines) {
		t.Errorf("logs -f exited %d after %d lines, want 0 and the last line %d", code, len(followed), lines)
	}

	var in []struct {
		LogConfig map[string]string `json:"LogConfig"`
	}
	if err := json.Unmarshal([]byte(f.mustBox("inspect", "rotated").stdout), &in); err != nil || len(in) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"max-size": "32k", "max-file": "3"}, in[0].LogConfig); diff != "" {
		t.Errorf("inspect's LogConfig (-want +got):\n%s", diff)
	}

	f.mustBox("rm", "rotated")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("rm left %s (%v)", dir, err)
	}
	if dirs := f.containerDirs(); len(dirs) != 0 {
		t.Errorf("rm left state: %v", dirs)
	}
}

// TestFinalLogsDefaultCap checks that run -d caps the log without being
// asked, and that --log-opt max-size=-1 lifts the cap, as inspect shows.
func TestFinalLogsDefaultCap(t *testing.T) {
	f := newFinal(t)
	for _, tc := range []struct {
		opts []string
		want map[string]string
	}{
		{nil, map[string]string{"max-size": "10m", "max-file": "3"}},
		{[]string{"--log-opt", "max-size=-1"}, map[string]string{"max-size": "-1"}},
		{[]string{"--log-opt", "max-file=5"}, map[string]string{"max-size": "10m", "max-file": "5"}},
	} {
		args := append(append([]string{}, tc.opts...), "--rootfs", sharedRootfs(t), "true")
		id := f.detached(args...)
		f.mustBox("wait", id)
		var in []struct {
			LogConfig map[string]string `json:"LogConfig"`
		}
		if err := json.Unmarshal([]byte(f.mustBox("inspect", id).stdout), &in); err != nil || len(in) != 1 {
			t.Fatalf("inspect: %v", err)
		}
		if diff := cmp.Diff(tc.want, in[0].LogConfig); diff != "" {
			t.Errorf("run -d %v: LogConfig (-want +got):\n%s", tc.opts, diff)
		}
		f.mustBox("rm", id)
	}
	// Wrong options: one line, exit 125, nothing left behind.
	for _, opts := range [][]string{
		{"--log-opt", "max-size=ten"},
		{"--log-opt", "max-file=0"},
		{"--log-opt", "max-age=1h"},
		{"--log-opt", "max-size=-1", "--log-opt", "max-file=2"},
	} {
		r := f.box(append(append([]string{"run", "-d"}, opts...), "--rootfs", sharedRootfs(t), "true")...)
		if r.code != 125 || len(nonEmptyLines(r.stderr)) != 1 || !strings.Contains(r.stderr, "--log-opt") {
			t.Errorf("run -d %v: want exit 125 and one line naming --log-opt; got %s", opts, r)
		}
	}
	if r := f.box("run", "--log-opt", "max-size=1m", "--rootfs", sharedRootfs(t), "true"); r.code != 125 || !strings.Contains(r.stderr, "run -d") {
		t.Errorf("run --log-opt without -d: want exit 125 saying it is for run -d; got %s", r)
	}
	if dirs := f.containerDirs(); len(dirs) != 0 {
		t.Errorf("left state: %v", dirs)
	}
}
