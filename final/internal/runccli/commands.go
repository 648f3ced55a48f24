package runccli

import (
	"encoding/json"
	"fmt"
	"os"

	"box/final/internal/lifecycle"
)

type CreateCmd struct {
	Bundle        string `short:"b" default:"." placeholder:"DIR" help:"The bundle: the directory holding config.json."`
	PidFile       string `name:"pid-file" placeholder:"FILE" help:"Write the container process's pid here."`
	ConsoleSocket string `name:"console-socket" placeholder:"SOCKET" help:"Unix socket to send the terminal's master side to (process.terminal)."`
	NoPivot       bool   `name:"no-pivot" help:"Move the root with MS_MOVE and chroot instead of pivot_root (a ramdisk root)."`
	NoNewKeyring  bool   `name:"no-new-keyring" help:"Accepted: box never makes a session keyring."`
	PreserveFds   int    `name:"preserve-fds" placeholder:"N" help:"Pass descriptors 3 to 3+N-1 on to the container."`
	ID            string `arg:"" name:"id" help:"The container's id."`
}

func (c *CreateCmd) Run(g *Globals, narration *os.File) error {
	return g.Runtime().Create(c.Options(g, narration))
}

// Options are create's options for the lifecycle package (run's too).
func (c *CreateCmd) Options(g *Globals, narration *os.File) lifecycle.CreateOptions {
	return lifecycle.CreateOptions{ID: c.ID, Bundle: c.Bundle, PidFile: c.PidFile, ConsoleSocket: c.ConsoleSocket,
		NoPivot: c.NoPivot, NoNewKeyring: c.NoNewKeyring, PreserveFDs: c.PreserveFds, Narration: narration,
		ExplainLog: g.ExplainLog}
}

type StartCmd struct {
	ID string `arg:"" name:"id"`
}

func (c *StartCmd) Run(g *Globals) error { return g.Runtime().Start(c.ID) }

type StateCmd struct {
	ID string `arg:"" name:"id"`
}

func (c *StateCmd) Run(g *Globals) error {
	ct, err := g.Runtime().Load(c.ID)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(ct.State(), "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

type KillCmd struct {
	All    bool   `short:"a" help:"Signal every process of the container."`
	ID     string `arg:"" name:"id"`
	Signal string `arg:"" optional:"" default:"SIGTERM" help:"TERM, SIGTERM or 15."`
}

func (c *KillCmd) Run(g *Globals) error {
	sig, err := lifecycle.ParseSignal(c.Signal)
	if err != nil {
		return err
	}
	return g.Runtime().Kill(c.ID, sig, c.All)
}

type DeleteCmd struct {
	Force bool   `short:"f" help:"Kill the container first if it runs."`
	ID    string `arg:"" name:"id"`
}

func (c *DeleteCmd) Run(g *Globals) error { return g.Runtime().Delete(c.ID, c.Force) }
