package main

// init.go is what box run knows of the container side: box-init, a small
// program of its own (internal/runinit, started as "box-init init"), found
// next to box and started by supervise.go.

import "box/final/internal/runinit"

// findCommand finds a command as the init will inside the container: run
// refuses one that is not there before it starts anything.
func findCommand(root, name, path string) (string, error) {
	return runinit.FindCommand(root, name, path)
}

// envValue is the value of key in env, or "".
func envValue(env []string, key string) string { return runinit.EnvValue(env, key) }
