package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"box/final/internal/narrate"
	"box/final/internal/oci"
)

// runHooks runs the hooks of one lifecycle point in order, each with the
// container's state as JSON on its stdin, as the specification says; the
// first that fails or outlives its timeout stops the rest.
func runHooks(point string, hooks []oci.Hook, st oci.State) error {
	if len(hooks) == 0 {
		return nil
	}
	in, err := json.Marshal(st)
	if err != nil {
		return err
	}
	narrate.Explain(narrate.Process, "Run the %s hooks (%d), each with the container's state on stdin.", point, len(hooks))
	for _, h := range hooks {
		if err := runHook(h, in); err != nil {
			return fmt.Errorf("%s hook %s: %w", point, h.Path, err)
		}
	}
	return nil
}

// runHook runs one hook and waits for it, at most its timeout.
func runHook(h oci.Hook, state []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("timeout %d: it must be a positive number of seconds", *h.Timeout)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	cmd.Stdin = bytes.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %d seconds", *h.Timeout)
	}
	if err != nil {
		if msg := bytes.TrimSpace(out.Bytes()); len(msg) > 0 {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}

// runHooksWarning runs every hook of a point whose failures the
// specification only wants logged (poststart, poststop): each failure is
// a warning on stderr, and the next hook runs.
func runHooksWarning(point string, hooks []oci.Hook, st oci.State) {
	if len(hooks) == 0 {
		return
	}
	in, err := json.Marshal(st)
	if err != nil {
		return
	}
	narrate.Explain(narrate.Process, "Run the %s hooks (%d), each with the container's state on stdin; a failure is only a warning.", point, len(hooks))
	for _, h := range hooks {
		if err := runHook(h, in); err != nil {
			fmt.Fprintf(os.Stderr, "box-runc: warning: %s hook %s: %v\n", point, h.Path, err)
		}
	}
}
