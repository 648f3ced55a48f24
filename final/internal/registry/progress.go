package registry

// progress.go shows how the downloads go: on a terminal, a line per layer
// redrawn in place with bytes and rate, as docker pull does; elsewhere
// (a pipe, a log, --explain) plain lines, one when a layer starts and one
// when it is done.

import (
	"fmt"
	"io"
	"sync"
	"time"

	"box/final/internal/image"
)

// Progress hears how each blob's download goes, by short digest.
type Progress interface {
	Start(id string, total, have int64)
	Add(id string, n int)
	Done(id, msg string)
}

// progressWriter counts bytes written into a Progress.
type progressWriter struct {
	p  Progress
	id string
}

func (w progressWriter) Write(b []byte) (int, error) {
	w.p.Add(w.id, len(b))
	return len(b), nil
}

// NewProgress shows progress on w: redrawn in place when w is a terminal,
// as plain lines otherwise.
func NewProgress(w io.Writer, terminal bool, ids []string) Progress {
	if !terminal {
		return &plainProgress{w: w}
	}
	t := &ttyProgress{w: w, ids: ids, rows: map[string]*row{}, stop: make(chan struct{}), stopped: make(chan struct{})}
	for _, id := range ids {
		t.rows[id] = &row{status: "waiting"}
	}
	t.draw(false)
	go t.loop()
	return t
}

// Stop ends a terminal's redrawing, with a last picture.
func Stop(p Progress) {
	if t, ok := p.(*ttyProgress); ok {
		close(t.stop)
		<-t.stopped
	}
}

type plainProgress struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *plainProgress) Start(id string, total, have int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if have > 0 {
		fmt.Fprintf(p.w, "%s: resuming at %s of %s\n", id, image.HumanSize(have), image.HumanSize(total))
		return
	}
	fmt.Fprintf(p.w, "%s: downloading %s\n", id, image.HumanSize(total))
}

func (p *plainProgress) Add(string, int) {}

func (p *plainProgress) Done(id, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s: %s\n", id, msg)
}

// row is one layer's line on a terminal.
type row struct {
	status      string
	total, have int64
	started     time.Time
	startHave   int64
	done        bool
}

type ttyProgress struct {
	mu      sync.Mutex
	w       io.Writer
	ids     []string
	rows    map[string]*row
	drawn   int // lines drawn last time
	stop    chan struct{}
	stopped chan struct{}
}

func (t *ttyProgress) Start(id string, total, have int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.row(id)
	r.total, r.have, r.startHave, r.started, r.status = total, have, have, time.Now(), "downloading"
}

func (t *ttyProgress) Add(id string, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.row(id).have += int64(n)
}

func (t *ttyProgress) Done(id, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.row(id)
	r.done, r.status = true, msg
}

// row finds id's row, adding one for an id not announced.
func (t *ttyProgress) row(id string) *row {
	r, ok := t.rows[id]
	if !ok {
		r = &row{}
		t.rows[id] = r
		t.ids = append(t.ids, id)
	}
	return r
}

func (t *ttyProgress) loop() {
	defer close(t.stopped)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			t.draw(true)
			return
		case <-tick.C:
			t.draw(true)
		}
	}
}

// draw writes a line per layer; again moves the cursor up over the
// lines drawn before, and \x1b[2K clears each line before it is written.
func (t *ttyProgress) draw(again bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if again && t.drawn > 0 {
		fmt.Fprintf(t.w, "\x1b[%dA", t.drawn)
	}
	t.drawn = len(t.ids)
	for _, id := range t.ids {
		r := t.rows[id]
		line := id + ": " + r.status
		if !r.done && r.total > 0 {
			line += fmt.Sprintf(" %s/%s", image.HumanSize(r.have), image.HumanSize(r.total))
			if secs := time.Since(r.started).Seconds(); secs > 0.2 {
				line += fmt.Sprintf(" %s/s", image.HumanSize(int64(float64(r.have-r.startHave)/secs)))
			}
		}
		fmt.Fprintf(t.w, "\x1b[2K%s\n", line)
	}
}
