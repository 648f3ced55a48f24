package sys

import (
	"bytes"
	"strings"
	"sync"

	"box/final/internal/narrate"
)

// Script is a Recorder for tests: it keeps every call and answers each
// with the error of the first entry of Errors whose key the call starts
// with, or success.
type Script struct {
	mu     sync.Mutex
	Calls  []string
	Errors map[string]error
}

// Record implements Recorder.
func (s *Script) Record(call string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Calls = append(s.Calls, call)
	for prefix, err := range s.Errors {
		if strings.HasPrefix(call, prefix) {
			return -1, err
		}
	}
	return 0, nil
}

// RecordNarration runs do with s standing in for the kernel and returns
// the narration it produced, uncolored: the "why" lines and the calls with
// their results, which is what golden files hold. Tests only.
func RecordNarration(s *Script, do func() error) (string, error) {
	var buf bytes.Buffer
	narrate.Setup(true, &buf, false)
	restore := SetRecorder(s)
	err := do()
	restore()
	narrate.Setup(false, nil, false)
	return buf.String(), err
}
