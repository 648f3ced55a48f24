package main

// import.go is the import command: a rootfs tarball (an alpine
// minirootfs, a docker export) becomes a one-layer image.

import (
	"fmt"
	"os"

	"box/final/internal/image"
)

type importCmd struct {
	File string `arg:"" type:"existingfile" help:"A root filesystem tarball, plain or gzipped."`
	Name string `arg:"" help:"Name for the image, like alpine:3.19."`
}

func (i *importCmd) Run(g *cli) error {
	if err := needImageRoot("import"); err != nil {
		return err
	}
	s, err := image.Open(g.Store)
	if err != nil {
		return err
	}
	img, err := s.Import(i.File, i.Name)
	if err != nil {
		return err
	}
	fmt.Printf("Imported %s: 1 layer, %s\n", img.Name, img.Layers[0].Digest)
	return nil
}

// needImageRoot explains why a command that writes layers wants root.
func needImageRoot(command string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s needs root: the image store is root's, as layers keep their files' owners (chown), whiteouts are device nodes (mknod) and opaque dirs carry trusted.* xattrs; use sudo", command)
	}
	return nil
}
