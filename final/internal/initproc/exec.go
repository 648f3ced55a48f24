package initproc

// exec.go lets box exec start a command through the init, for a container
// with a user namespace: a Go program cannot join one with setns(2) (it
// has threads; the kernel wants a single-threaded caller), but the init is
// already inside every namespace of the container, restricted as the
// container's first command is. So box exec connects to a unix socket
// whose listening end the runtime gave the init, sends the command and its
// stdin, stdout and stderr (SCM_RIGHTS), and the init forks it from its
// restricted thread, reaps it, and sends back its exit status.

import (
	"box/final/internal/users"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"box/final/internal/narrate"
	"box/final/internal/pty"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// ExecRequest is what box exec asks the init to start.
type ExecRequest struct {
	Path string      `json:"path"` // found by box exec through /proc/PID/root
	Argv []string    `json:"argv"`
	Env  []string    `json:"env"`
	Dir  string      `json:"dir"`
	TTY  bool        `json:"tty"`
	Size sys.Winsize `json:"size"`
	User *users.Cred `json:"user,omitempty"` // nil: root
	// Explain asks the init to narrate what it does for the request onto
	// box exec's stderr, the last descriptor sent (with TTY, the only one).
	Explain bool `json:"explain,omitempty"`
	Color   bool `json:"color,omitempty"`
}

// descriptors is how many descriptors box exec sends with req.
func (req ExecRequest) descriptors() int {
	switch {
	case !req.TTY:
		return 3 // stdin, stdout, stderr
	case req.Explain:
		return 1 // stderr, for the narration
	}
	return 0
}

// ExecEvent is what the init tells box exec, one per message: the pid once
// started (or why not), then the exit status. Signal goes the other way.
type ExecEvent struct {
	Started int    `json:"started,omitempty"`
	Error   string `json:"error,omitempty"`
	Exit    *int   `json:"exit,omitempty"`
	Signal  int    `json:"signal,omitempty"`
}

// pendingExec is a request on its way to the init's main thread, which
// alone may fork: the thread that dropped the capabilities.
type pendingExec struct {
	conn   *net.UnixConn
	req    ExecRequest
	stdio  []*os.File // with TTY, none
	accept string     // the accept4 that took the connection, as strace prints it
	// narration is box exec's stderr with Explain, else nil: what the
	// init does for this request is narrated there.
	narration *os.File
	reply     chan int // the pid, or 0 if it did not start
}

// execSignal is a signal box exec passes on to the command it started,
// sent from the main loop, which knows whether that command still runs.
type execSignal struct {
	p   *pendingExec
	pid int
	sig syscall.Signal
}

// serveExec accepts connections on l for as long as the init lives and
// hands each request to the main loop. l and its connections go through
// Go's poller, so no thread waits in accept or recvmsg.
func serveExec(l *os.File, requests chan<- *pendingExec, signals chan<- execSignal) {
	l, err := sys.PollableListener(l)
	if err != nil {
		return
	}
	defer l.Close()
	for {
		f, accepted, err := sys.AcceptPolled(l)
		if err != nil {
			return
		}
		conn, err := net.FileConn(f) // a copy of the descriptor, in Go's poller
		f.Close()
		if err != nil {
			continue
		}
		if unixConn, ok := conn.(*net.UnixConn); ok {
			go handleExec(unixConn, accepted, requests, signals)
		} else {
			conn.Close()
		}
	}
}

// handleExec reads one request, waits for the main loop to start it, then
// hands the signals box exec sends to the main loop, until it hangs up.
func handleExec(conn *net.UnixConn, accepted string, requests chan<- *pendingExec, signals chan<- execSignal) {
	defer conn.Close()
	msg, files, err := receive(conn, 3)
	// The descriptors are box exec's: the command has its own copies once
	// started, and box exec holds them as long as we do.
	defer closeAll(files)
	var req ExecRequest
	if err == nil {
		err = json.Unmarshal([]byte(msg), &req)
	}
	if err != nil || len(files) != req.descriptors() || len(req.Argv) == 0 {
		sendEvent(conn, ExecEvent{Error: fmt.Sprintf("bad exec request (%v)", err)})
		return
	}
	p := &pendingExec{conn: conn, req: req, accept: accepted, reply: make(chan int, 1)}
	if !req.TTY {
		p.stdio = files
	}
	if req.Explain {
		p.narration = files[len(files)-1]
	}
	requests <- p
	pid := <-p.reply
	if pid == 0 {
		return
	}
	for {
		msg, files, err := receive(conn, 1)
		closeAll(files)
		if err != nil || msg == "" {
			return // box exec hung up: done, or gone and the command goes on
		}
		var ev ExecEvent
		if json.Unmarshal([]byte(msg), &ev) == nil && ev.Signal > 0 {
			signals <- execSignal{p, pid, syscall.Signal(ev.Signal)}
		}
	}
}

// narrateFor turns narration on onto p's box exec's stderr, if it asked
// for it, until the returned function is called.
func narrateFor(p *pendingExec) (restore func()) {
	if p.narration == nil {
		return func() {}
	}
	return narrate.To(p.narration, p.req.Color)
}

// receive reads one message and up to max descriptors (SCM_RIGHTS) sent
// by box exec; net marks them close-on-exec (MSG_CMSG_CLOEXEC).
func receive(conn *net.UnixConn, max int) (string, []*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*max))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return "", nil, err
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return "", nil, err
	}
	var files []*os.File
	for _, cm := range cmsgs {
		fds, err := unix.ParseUnixRights(&cm)
		if err != nil {
			closeAll(files)
			return "", nil, err
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "received"))
		}
	}
	return string(buf[:n]), files, nil
}

// startExec starts a requested command from the calling thread, which
// must be the init's restricted one, and returns its pid (0 on failure,
// which it reports to box exec).
func startExec(p *pendingExec) int {
	defer narrateFor(p)()
	narrate.Explain(narrate.Process, "box exec asks this init (PID 1) through exec.sock to start a command: it comes from the thread that holds every namespace and restriction of the container.")
	narrate.Line(p.accept)
	req := p.req
	cmd := &exec.Cmd{Path: req.Path, Args: req.Argv, Env: req.Env, Dir: req.Dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if req.User != nil {
		cmd.SysProcAttr.Credential = req.User.Credential()
	}
	if req.TTY {
		master, slave, err := pty.Open("/dev/ptmx", "/dev/pts")
		if err != nil {
			sendEvent(p.conn, ExecEvent{Error: err.Error()})
			return 0
		}
		defer slave.Close()
		_ = sys.SetWinsize(int(master.Fd()), req.Size)
		_, _, err = p.conn.WriteMsgUnix([]byte("pty"), unix.UnixRights(int(master.Fd())), nil)
		master.Close()
		if err != nil {
			return 0
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr.Setctty = true
	} else {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = p.stdio[0], p.stdio[1], p.stdio[2]
	}
	pid, err := sys.StartChild(cmd)
	if err != nil {
		sendEvent(p.conn, ExecEvent{Error: err.Error()})
		return 0
	}
	sendEvent(p.conn, ExecEvent{Started: pid})
	return pid
}

// signalExec passes a signal from box exec on to the command it started,
// unless that has exited (the main loop reaped it: its pid may be reused).
func signalExec(s execSignal, running bool) {
	if !running {
		return
	}
	defer narrateFor(s.p)()
	narrate.Explain(narrate.Process, "box exec got %s: pass it on to the command it started.", unix.SignalName(s.sig))
	_ = sys.Kill(s.pid, s.sig)
}

// sendEvent sends one event; a box exec that hung up does not matter.
func sendEvent(conn *net.UnixConn, ev ExecEvent) {
	b, _ := json.Marshal(ev)
	_, _, _ = conn.WriteMsgUnix(b, nil, nil)
}

// SendEvent is sendEvent for box exec's side (signals).
func SendEvent(conn *os.File, ev ExecEvent) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return sys.SendFds(conn, string(b))
}

// ReadEvent reads the next event from the init; io.EOF-like end (the init
// died, and with it the container) is an error.
func ReadEvent(conn *os.File) (ExecEvent, []*os.File, error) {
	msg, files, err := sys.RecvFds(conn, 1)
	if err != nil {
		return ExecEvent{}, nil, err
	}
	if msg == "" {
		return ExecEvent{}, nil, fmt.Errorf("the container's init hung up: the container has exited")
	}
	if msg == "pty" {
		return ExecEvent{}, files, nil
	}
	var ev ExecEvent
	if err := json.Unmarshal([]byte(msg), &ev); err != nil {
		closeAll(files)
		return ExecEvent{}, nil, fmt.Errorf("message from the init %s: %w", strconv.Quote(msg), err)
	}
	return ev, files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
