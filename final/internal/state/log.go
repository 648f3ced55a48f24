package state

// LogOptions cap a detached container's log, as docker's json-file
// driver's max-size and max-file do (run --log-opt; see internal/logfile).
type LogOptions struct {
	// MaxSize is the most bytes one file of the log holds; 0 is no cap.
	MaxSize int64 `json:"maxSize,omitempty"`
	// MaxFiles is how many files are kept, the one being written included.
	MaxFiles int `json:"maxFiles,omitempty"`
}
