// Package users resolves docker's --user USER[:GROUP] against a
// container's /etc/passwd and /etc/group: names become ids, a user's
// primary group and supplementary groups come along, as docker does.
package users

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Cred is who the command runs as.
type Cred struct {
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"` // supplementary groups
	Home   string   `json:"home,omitempty"`   // from /etc/passwd, if the user is there
}

// Check tells whether spec has the form USER[:GROUP], without looking
// anything up: run checks it before it starts anything.
func Check(spec string) error {
	user, group, hasGroup := strings.Cut(spec, ":")
	if user == "" || (hasGroup && group == "") || strings.Contains(group, ":") {
		return fmt.Errorf("--user %q: want USER[:GROUP], a name or a number each, like 1000:1000 or nobody", spec)
	}
	return nil
}

// Resolve finds spec's ids in root/etc/passwd and root/etc/group. A
// number need not be in passwd (docker allows any uid; its group is then
// 0); a name must be.
func Resolve(root, spec string) (Cred, error) {
	if err := Check(spec); err != nil {
		return Cred{}, err
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	passwd, err := readEntries(filepath.Join(root, "etc/passwd"))
	if err != nil {
		return Cred{}, err
	}
	groups, err := readEntries(filepath.Join(root, "etc/group"))
	if err != nil {
		return Cred{}, err
	}
	var c Cred
	name := ""
	if uid, isNumber := number(userPart); isNumber {
		c.UID = uid
		if e, ok := find(passwd, 2, userPart); ok {
			name = e[0]
			c.GID, _ = number(field(e, 3))
			c.Home = field(e, 5)
		}
	} else {
		e, ok := find(passwd, 0, userPart)
		if !ok {
			return Cred{}, fmt.Errorf("--user %s: no such user in the container's /etc/passwd; give a uid, like --user 1000", userPart)
		}
		name = userPart
		uid, okUID := number(field(e, 2))
		gid, okGID := number(field(e, 3))
		if !okUID || !okGID {
			return Cred{}, fmt.Errorf("--user %s: the container's /etc/passwd has a broken line for it", userPart)
		}
		c.UID, c.GID, c.Home = uid, gid, field(e, 5)
	}
	if hasGroup {
		gid, isNumber := number(groupPart)
		if !isNumber {
			e, ok := find(groups, 0, groupPart)
			if !ok {
				return Cred{}, fmt.Errorf("--user %s: no such group in the container's /etc/group; give a gid, like %s:1000", spec, userPart)
			}
			if gid, isNumber = number(field(e, 2)); !isNumber {
				return Cred{}, fmt.Errorf("--user %s: the container's /etc/group has a broken line for %s", spec, groupPart)
			}
		}
		c.GID = gid
	}
	// Supplementary groups: those that list the user by name.
	if name != "" {
		for _, e := range groups {
			for _, member := range strings.Split(field(e, 3), ",") {
				if gid, ok := number(field(e, 2)); ok && member == name && gid != c.GID {
					c.Groups = append(c.Groups, gid)
				}
			}
		}
	}
	return c, nil
}

// readEntries reads a colon-separated file; a missing one has no entries.
func readEntries(path string) ([][]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	var entries [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entries = append(entries, strings.Split(line, ":"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return entries, nil
}

// find returns the first entry whose field i is value.
func find(entries [][]string, i int, value string) ([]string, bool) {
	for _, e := range entries {
		if field(e, i) == value {
			return e, true
		}
	}
	return nil, false
}

func field(e []string, i int) string {
	if i < len(e) {
		return e[i]
	}
	return ""
}

// number parses a uid or gid.
func number(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// Credential is c for os/exec: Go's child makes the calls of Calls
// between fork and execve.
func (c Cred) Credential() *syscall.Credential {
	return &syscall.Credential{Uid: c.UID, Gid: c.GID, Groups: c.Groups}
}

// Calls says what the child does with Credential, for the narration.
func (c Cred) Calls() string {
	names := make([]string, len(c.Groups))
	for i, g := range c.Groups {
		names[i] = strconv.FormatUint(uint64(g), 10)
	}
	return fmt.Sprintf("setgroups(%d, [%s]); setgid(%d); setuid(%d)", len(c.Groups), strings.Join(names, ", "), c.GID, c.UID)
}
