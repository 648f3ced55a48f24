package main

// monitor_memory.go keeps a detached container's monitor small. The
// monitor lives as long as its container, copying its output to the log,
// so what it holds is held for hours, per container; bench/README.md has
// the measurements (BenchmarkMonitorRSS in tests/).

import (
	"runtime"
	"runtime/debug"
	"time"

	"box/final/internal/narrate"
	"box/final/internal/sys"
)

// monitorArgs recognizes the command line startDetached gives the
// monitor, its global flags then "monitor ID", so main can start the
// monitor without building the parser: kong's model of every command
// would stay reachable, in the heap, for the container's whole life.
func monitorArgs(args []string) (g *cli, id string, ok bool) {
	g = &cli{}
	for len(args) > 2 {
		switch args[0] {
		case "--state-dir":
			g.StateDir, args = args[1], args[2:]
		case "--store":
			g.Store, args = args[1], args[2:]
		case "--explain":
			g.Explain, args = true, args[1:]
		default:
			return nil, "", false
		}
	}
	if len(args) != 2 || args[0] != "monitor" || g.StateDir == "" || g.Store == "" {
		return nil, "", false
	}
	return g, args[1], true
}

// monitorHeadroom is how much the monitor's Go memory may grow past what
// it holds once the container runs before a collection: its copy loop
// allocates nothing per write, only a little per rotation.
const monitorHeadroom = 1 << 20

// shrinkMonitor gives back, once the container runs, what setting it up
// took, and keeps the monitor from taking it again:
//   - one P (GOMAXPROCS 1): the copy and the wait need no parallelism,
//     and each P keeps caches of its own;
//   - a collection now, returning the free heap to the kernel;
//   - no collection by heap growth (GOGC off), which would run every two
//     minutes at least and fault in the collector's code and tables, but
//     one at a memory limit of what the monitor holds now plus
//     monitorHeadroom, so that garbage stays bounded;
//   - the program's pages unmapped (sys.DropProgramPages): the copy loop
//     faults back in the few it runs. What runs once more after that (the
//     first rotation, a collection at the limit) faults in its own, so
//     they are dropped again a second later and after each collection.
func shrinkMonitor() {
	runtime.GOMAXPROCS(1)
	debug.FreeOSMemory()
	// runtime.ReadMemStats, not runtime/metrics: that package builds its
	// table of every metric at init, in every box process (0.5 ms of each
	// start, GODEBUG=inittrace=1), for this one read. Sys is
	// /memory/classes/total:bytes, HeapReleased its released heap.
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	debug.SetMemoryLimit(int64(m.Sys-m.HeapReleased) + monitorHeadroom)
	debug.SetGCPercent(-1)
	narrate.Explain(narrate.Process, "The container runs: give back the pages of this program that set it up; the monitor only copies its output and waits from now on.")
	_ = sys.DropProgramPages()
	time.AfterFunc(time.Second, func() { _ = sys.DropProgramPages() })
	dropAfterCollection()
}

// collectionMark is garbage whose finalizer tells that a collection ran;
// not smaller than 16 bytes, which the allocator would pack with others.
type collectionMark struct{ _ [32]byte }

// dropAfterCollection drops the program's pages after the next
// collection, and again after each one after it.
func dropAfterCollection() {
	runtime.SetFinalizer(new(collectionMark), func(*collectionMark) {
		_ = sys.DropProgramPages()
		dropAfterCollection()
	})
}
