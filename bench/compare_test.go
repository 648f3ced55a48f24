package main

import (
	"testing"
	"time"
)

// TestPairStats checks the paired summary on pairs whose differences are
// known: the medians, the count of pairs B won, and an interval that holds
// the median difference and is no wider than the differences themselves.
func TestPairStats(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	tests := []struct {
		name           string
		a, b           []float64
		wantA, wantB   time.Duration
		wantDiff       time.Duration
		wantBLess      int
		wantLo, wantHi time.Duration // bounds the interval must lie within
	}{
		{"B one ms faster in every pair", []float64{40, 42, 44, 46, 48}, []float64{39, 41, 43, 45, 47},
			ms(44), ms(43), ms(-1), 5, ms(-1), ms(-1)},
		{"no difference", []float64{40, 41, 42, 43}, []float64{40, 41, 42, 43},
			ms(41.5), ms(41.5), 0, 0, 0, 0},
		{"B slower by 1 to 3 ms", []float64{30, 30, 30, 30, 30}, []float64{31, 32, 33, 32, 31},
			ms(30), ms(32), ms(2), 0, ms(1), ms(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pairs := make([][2]sample, len(tt.a))
			for i := range tt.a {
				pairs[i] = [2]sample{{wall: ms(tt.a[i])}, {wall: ms(tt.b[i])}}
			}
			s := pairStats(pairs, func(s sample) time.Duration { return s.wall })
			if s.a != tt.wantA || s.b != tt.wantB || s.diff != tt.wantDiff || s.bLess != tt.wantBLess {
				t.Errorf("got A %v, B %v, B-A %v, B less in %d; want %v, %v, %v, %d", s.a, s.b, s.diff, s.bLess, tt.wantA, tt.wantB, tt.wantDiff, tt.wantBLess)
			}
			if s.lo > s.diff || s.hi < s.diff || s.lo < tt.wantLo || s.hi > tt.wantHi {
				t.Errorf("interval [%v, %v] should hold B-A %v within [%v, %v]", s.lo, s.hi, s.diff, tt.wantLo, tt.wantHi)
			}
		})
	}
}

// TestWithBinary checks that only the box binary is replaced in a row's
// commands, and that the original commands are left as they were.
func TestWithBinary(t *testing.T) {
	orig := [][]string{{"/a/box", "--store", "/a/box", "run"}, {"/a/box-runc", "start"}}
	argv := withBinary(func(int) [][]string { return orig }, "/a/box", "/b/box")
	got := argv(0)
	if got[0][0] != "/b/box" || got[0][2] != "/b/box" || got[1][0] != "/a/box-runc" {
		t.Errorf("withBinary gave %q", got)
	}
	if orig[0][0] != "/a/box" {
		t.Errorf("withBinary changed the original commands: %q", orig)
	}
}
