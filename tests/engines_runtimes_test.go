package tests

// engines_runtimes_test.go names the OCI runtimes that the validation suite
// (oci_validation_test.go) and the engine tests (engines_*_test.go) drive:
// runc and crun, which prove that a harness works, and box through its
// runc-compatible front door. Until that front door answers, box's rows
// report it missing instead of failing; the switches below turn them into
// requirements once box passes.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// boxRuncName is box's runc command line, built from boxRuncDir next to
// box as make build puts bin/box-runc; engines are pointed at it.
const boxRuncName = "box-runc"

// ociRuntime is one OCI runtime under test.
type ociRuntime struct {
	name    string // runc, crun or box
	path    string // the absolute path an engine is given
	missing string // why it cannot run here; "" when it can
}

// referenceRuntime returns runc or crun from the host (apt installs both);
// without it the test skips, or with CI=true fails.
func referenceRuntime(t *testing.T, name string) ociRuntime {
	t.Helper()
	return ociRuntime{name: name, path: requireTool(t, name)}
}

// boxDoor caches the probe of box's front door: it is the same binary for
// every test of a run.
var boxDoor struct {
	once    sync.Once
	path    string
	missing string
}

// boxRuntime returns box as an OCI runtime: the box-runc the harness
// built next to the final binary. Its missing field says why it cannot be
// driven yet: the probe runs `box-runc features`, which every OCI runtime
// answers with a JSON document naming the spec versions it supports.
func boxRuntime(t *testing.T) ociRuntime {
	t.Helper()
	requireRoot(t)
	bin := binary(t, finalStep)
	boxDoor.once.Do(func() {
		boxDoor.path = filepath.Join(filepath.Dir(bin), boxRuncName)
		boxDoor.missing = probeFrontDoor(boxDoor.path)
	})
	return ociRuntime{name: "box", path: boxDoor.path, missing: boxDoor.missing}
}

// probeFrontDoor runs `RUNTIME features` and returns "" when it printed
// the OCI features document, or what it printed instead.
func probeFrontDoor(path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "features")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	var features struct {
		OCIVersionMin string `json:"ociVersionMin"`
		OCIVersionMax string `json:"ociVersionMax"`
	}
	if err != nil {
		var exitErr *exec.ExitError
		msg := err.Error()
		if errors.As(err, &exitErr) {
			msg += ": " + firstLine(strings.TrimSpace(string(exitErr.Stderr)))
		}
		return fmt.Sprintf("%s features: %s", boxRuncName, msg)
	}
	if err := json.Unmarshal(out, &features); err != nil || features.OCIVersionMax == "" {
		return fmt.Sprintf("%s features printed no OCI features document: %q", boxRuncName, firstLine(string(out)))
	}
	return ""
}

// boxEngineCases lists the engine tests whose box row runs and must pass.
// A row is added here once it passes against box; the others are not run
// for box (their runc row still proves the test). BOX_ENGINES=all runs
// every box row, to try them while the front door is being built.
var boxEngineCases = map[string]bool{
	"podman/run --rm":                       true,
	"podman/run -it":                        true,
	"podman/run -d, exec, logs":             true,
	"podman/stop":                           true,
	"podman/kill, rm":                       true,
	"podman/--memory --pids-limit":          true,
	"podman/--user":                         true,
	"podman/volume":                         true,
	"podman/layered image":                  true,
	"docker/run":                            true,
	"docker/run -it":                        true,
	"docker/exec":                           true,
	"docker/stop, restart":                  true,
	"docker/stats":                          true,
	"containerd/run --rm":                   true,
	"containerd/run -d, exec, kill, delete": true,
}

// engineRuntimes returns the runtimes an engine test runs against: runc
// first, which proves that the test works on this host, then box when
// name is enabled for it (boxEngineCases) and its front door answers.
func engineRuntimes(t *testing.T, name string) []ociRuntime {
	t.Helper()
	rts := []ociRuntime{referenceRuntime(t, "runc")}
	enabled := boxEngineCases[name] || os.Getenv("BOX_ENGINES") == "all"
	if !enabled {
		t.Logf("box row of %s: not enabled yet (add it to boxEngineCases once it passes, or run with BOX_ENGINES=all)", name)
		return rts
	}
	box := boxRuntime(t)
	if box.missing != "" {
		// An enabled row must run: a front door that went away is a failure.
		t.Errorf("box row of %s is enabled, but box has no OCI front door: %s", name, box.missing)
		return rts
	}
	return append(rts, box)
}
