package main

// push.go is the push command: a stored image to a registry.

type pushCmd struct {
	Ref      string        `arg:"" name:"image" help:"A stored image, named with its registry: 127.0.0.1:5000/team/app:v1."`
	Registry registryFlags `embed:""`
}

// Run pushes through box-registry, as pull does (pull.go).
func (p *pushCmd) Run(g *cli) error {
	if err := needImageRoot("push"); err != nil {
		return err
	}
	return runRegistry(g, "push", p.Registry.args(), p.Ref)
}
