package tests

import (
	"strconv"
	"testing"
)

// BenchmarkRunLayers measures what layers cost a container's start: one
// run of /bin/true on images of 1, 8, 32 and 64 layers, on the newest
// numbered step with images. The image is made (imported, then committed
// layer by layer) and run once before the clock starts, so only the run
// is measured: its dirs, the overlay mount over N lower dirs (by short
// links past the page mount(2) takes), and the cleanup.
//
//	sudo go test ./tests -run '^$' -bench RunLayers -benchtime 20x
func BenchmarkRunLayers(b *testing.B) {
	requireRoot(b)
	step := ""
	for _, s := range harness.steps {
		if s != finalStep && stepAtLeast(s, layersStep) {
			step = s
		}
	}
	if step == "" {
		b.Fatalf("no step has images yet (%s or later)", layersStep)
	}
	for _, n := range []int{1, 8, 32, 64} {
		n := n
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			store := newStore(b)
			loadStack(b, step, store, n)
			image := "stack:" + strconv.Itoa(n)
			// A first run warms the page cache: not timed.
			if r := run(b, step, "--quiet", "run", "--store", store, "--image", image, "--", "/bin/true"); r.code != 0 {
				b.Fatalf("first run on %d layers: %s", n, r)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := run(b, step, "--quiet", "run", "--store", store, "--image", image, "--", "/bin/true")
				if r.code != 0 {
					b.Fatalf("run on %d layers: %s", n, r)
				}
			}
			b.StopTimer()
			if !noContainerLeftovers(b, store) {
				b.Fatal("the runs left container dirs behind")
			}
		})
	}
}
