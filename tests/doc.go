// Package tests checks the steps and the final runtime from the outside: it
// builds every step, runs the binaries as root on a real rootfs, and asks
// the kernel what they did (/proc, mountinfo, strace).
//
// The harness (main_test.go, run_test.go, hostmounts_test.go) builds the
// binaries and one shared rootfs once. The cumulative feature suite
// (feature_suite_test.go) holds one table of features against every step;
// a topic adds its features from its own feature_<topic>_test.go with
// addFeatures in an init function.
//
// Run it as root: go test ./tests -count=1. Without root the privileged
// tests skip and say why; with CI=true a skip is a failure.
package tests
