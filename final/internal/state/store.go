package state

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// Store is the directory of container states, and the locks that make two
// commands at once safe:
//   - ROOT/containers/.lock, exclusive while a container is created or
//     removed, so two runs cannot take the same name;
//   - ROOT/containers/ID/lock, exclusive while state.json is rewritten;
//   - ROOT/containers/ID/supervisor.lock, held by the process that waits
//     for the container for as long as it does, so others can wait for it.
//
// flock(2) locks vanish with their holder, so a killed runtime never leaves
// one behind. state.json is replaced by rename(2), so a reader never sees
// half a file and needs no lock.
type Store struct {
	root string // e.g. /run/box
}

// Open opens the state root, creating it (mode 0700: container commands
// and environments may hold secrets) if needed.
func Open(root string) (*Store, error) {
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("state dir %q must be an absolute path, like --state-dir /run/box", root)
	}
	if err := os.MkdirAll(filepath.Join(root, "containers"), 0o700); err != nil {
		return nil, fmt.Errorf("state dir %s: %w", root, err)
	}
	return &Store{root: root}, nil
}

// Root is the state root directory.
func (s *Store) Root() string { return s.root }

func (s *Store) containersDir() string { return filepath.Join(s.root, "containers") }

// validName is docker's rule for container names,
// ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, with the length (at most 63) checked
// apart. Checked by hand, not by a regexp: compiling one at start-up cost
// every box process, and each container's init, 0.16 ms (a bounded repeat
// like {0,62}, 62 copies of the class, cost a quarter of a millisecond).
func validName(name string) bool {
	for i, r := range name {
		alnum := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
		if !alnum && (i == 0 || r != '_' && r != '.' && r != '-') {
			return false
		}
	}
	return name != ""
}

// maxNameLen is the longest container name docker accepts.
const maxNameLen = 63

// CheckName tells whether name can name a container.
func CheckName(name string) error {
	if len(name) > maxNameLen || !validName(name) {
		return fmt.Errorf("container name %q is not valid: use letters, digits, _ . - (starting with a letter or digit, at most 63)", name)
	}
	return nil
}

// Create makes the state of a new container from cfg, named name, with
// status created. As docker does, the short ID is the default name and
// the default hostname.
func (s *Store) Create(name string, cfg Config) (*Container, error) {
	id, err := newID()
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = id[:12]
	}
	if cfg.Hostname == "" {
		cfg.Hostname = id[:12]
	}
	if err := CheckName(name); err != nil {
		return nil, err
	}
	unlock, err := s.lockStore()
	if err != nil {
		return nil, err
	}
	defer unlock()
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	for _, c := range all {
		if c.Name == name {
			return nil, fmt.Errorf("container name %q is taken by %s; choose another with --name, or remove it: box rm %s", name, c.ShortID(), name)
		}
	}
	c := &Container{ID: id, Name: name, Config: cfg, Status: Created, Created: time.Now().UTC(),
		dir: filepath.Join(s.containersDir(), id)}
	if err := os.Mkdir(c.dir, 0o700); err != nil {
		return nil, fullError(s.root, "creating container "+name, fmt.Errorf("create state of %s: %w", name, err))
	}
	// Everything the container needs in the state dir until its exit is
	// recorded is written now, before it starts: later the disk may be full.
	err = c.save()
	if err == nil {
		if err = c.reserve(); err != nil {
			err = fmt.Errorf("create state of %s: %w", name, err)
		}
	}
	if err != nil {
		_ = os.RemoveAll(c.dir)
		return nil, fullError(s.root, "creating container "+name, err)
	}
	return c, nil
}

// newID is 32 random bytes in hex, like a docker container ID. The bytes
// come from getrandom(2), the kernel's generator crypto/rand reads too:
// this package is linked into box-init, and crypto/rand would bring
// crypto's package initialization into every container's start.
func newID() (string, error) {
	b := make([]byte, 32)
	for n := 0; n < len(b); {
		m, err := unix.Getrandom(b[n:], 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("make container id: getrandom: %w", err)
		}
		n += m
	}
	return hex.EncodeToString(b), nil
}

// lockStore takes the store's exclusive lock.
func (s *Store) lockStore() (unlock func(), err error) {
	return lockFile(filepath.Join(s.containersDir(), ".lock"), true)
}

// List reads every container's state, oldest first.
func (s *Store) List() ([]*Container, error) {
	entries, err := os.ReadDir(s.containersDir())
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var all []*Container
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := s.read(e.Name())
		if errors.Is(err, fs.ErrNotExist) {
			continue // being created or removed right now
		}
		if err != nil {
			return nil, err
		}
		all = append(all, c)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Created.Before(all[j].Created) })
	return all, nil
}

// Dirs lists the container directories, even those without a readable
// state.json, for cleanup.
func (s *Store) Dirs() ([]string, error) {
	entries, err := os.ReadDir(s.containersDir())
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(s.containersDir(), e.Name()))
		}
	}
	return dirs, nil
}

// read loads the state of container id.
func (s *Store) read(id string) (*Container, error) {
	dir := filepath.Join(s.containersDir(), id)
	b, err := readFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, err
	}
	var c Container
	if err := decodeContainer(b, &c); err != nil {
		return nil, fmt.Errorf("state of %s: %w", id, err)
	}
	c.dir = dir
	if err := c.applyExitRecord(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Get finds a container by name, by ID, or by a unique prefix of its ID.
func (s *Store) Get(ref string) (*Container, error) {
	if ref == "" {
		return nil, errors.New("no container given; name one, as ps lists them")
	}
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	var matches []*Container
	for _, c := range all {
		if c.Name == ref || c.ID == ref {
			return c, nil
		}
		if strings.HasPrefix(c.ID, ref) {
			matches = append(matches, c)
		}
	}
	switch len(matches) {
	case 0:
		return nil, fmt.Errorf("no such container: %s (box ps -a lists them)", ref)
	case 1:
		return matches[0], nil
	default:
		return nil, fmt.Errorf("%q is the start of %d container IDs; give more of it, or the name", ref, len(matches))
	}
}

// Update rereads c's state under its lock, applies change, and saves it, so
// two commands changing one container do not undo each other. c is
// refreshed with the result.
func (s *Store) Update(c *Container, change func(*Container) error) error {
	unlock, err := lockFile(filepath.Join(c.dir, "lock"), true)
	if err != nil {
		return err
	}
	defer unlock()
	fresh, err := s.read(c.ID)
	if err != nil {
		return fmt.Errorf("update %s: %w", c.Name, err)
	}
	if err := change(fresh); err != nil {
		return err
	}
	// An exit goes to the exit record first, in place: that needs no
	// space, so a full state dir cannot lose it (record.go).
	recorded := false
	if fresh.Status == Exited && fresh.ExitCode != nil {
		recorded = updateExitRecord(c.dir, func(rec *exitRecord) {
			rec.ExitCode, rec.Finished = fresh.ExitCode, fresh.Finished
		}) == nil
	}
	if err := fresh.save(); err != nil {
		if !recorded {
			return fullError(s.root, "saving the state of "+fresh.Name, err)
		}
	}
	*c = *fresh
	return nil
}

// save writes state.json atomically: a new file, then rename(2) over.
func (c *Container) save() error {
	b, err := encodeContainer(c)
	if err != nil {
		return fmt.Errorf("save state of %s: %w", c.Name, err)
	}
	tmp := filepath.Join(c.dir, ".state.json.tmp")
	if err := writeFile(tmp, append(b, '\n'), 0o600); err != nil {
		_ = os.Remove(tmp) // what part of it was written takes space
		return fmt.Errorf("save state of %s: %w", c.Name, err)
	}
	if err := rename(tmp, filepath.Join(c.dir, "state.json")); err != nil {
		return fmt.Errorf("save state of %s: %w", c.Name, err)
	}
	return nil
}

// Remove deletes c's state directory, under the store lock.
func (s *Store) Remove(c *Container) error {
	unlock, err := s.lockStore()
	if err != nil {
		return err
	}
	defer unlock()
	return RemoveDir(c.dir)
}

// RemoveDir deletes a container directory, even one without state.json.
func RemoveDir(dir string) error {
	if removeFlat(dir) {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// HoldSupervisor takes c's supervisor lock for as long as the returned file
// stays open (the kernel drops it when this process dies). It fails if
// another process supervises c.
func (s *Store) HoldSupervisor(c *Container) (*os.File, error) {
	path := filepath.Join(c.dir, "supervisor.lock")
	f, err := openLock(path, true)
	if err != nil {
		return nil, fmt.Errorf("supervise %s: %w", c.Name, err)
	}
	if err := sys.Lock(f, true, true); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s is supervised by another process: %w", c.Name, err)
	}
	return f, nil
}

// WaitSupervisor waits until no process supervises c any more, that is
// until its supervisor has recorded the exit and cleaned up.
func (s *Store) WaitSupervisor(c *Container) error {
	unlock, err := lockFile(filepath.Join(c.dir, "supervisor.lock"), true)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed meanwhile, by run --rm
	}
	if err != nil {
		return err
	}
	unlock()
	return nil
}

// Supervised tells whether a live process supervises the container in dir,
// by trying its supervisor lock without waiting.
func Supervised(dir string) bool {
	f, err := openLock(filepath.Join(dir, "supervisor.lock"), false)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := sys.Lock(f, true, true); err != nil {
		return true
	}
	return false
}

// LoadDir reads the state in a container directory, for cleanup.
func (s *Store) LoadDir(dir string) (*Container, error) {
	return s.read(filepath.Base(dir))
}
