package main

// layers.go makes the images of the layer-count rows: the busybox root
// filesystem as the bottom layer, and above it N-1 small layers of one
// file each, loaded into box's store from a docker save archive written
// here. Whatever the count, the container sees the same files but for
// /layers/: so the rows differ only in how many lower dirs the overlay
// root stacks (and, with a user namespace, how many id-shifted copies box
// keeps, made once by the warm-up).

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// layerImage is the name of the image with n layers.
func layerImage(n int) string { return "bench-layers:" + strconv.Itoa(n) }

// parseLayers reads -layers: layer counts, comma-separated, each 1 to 128.
func parseLayers(list string) ([]int, error) {
	var counts []int
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 128 {
			return nil, fmt.Errorf("-layers %q: want layer counts from 1 to 128, comma-separated, like 1,8,64", list)
		}
		counts = append(counts, n)
	}
	return counts, nil
}

// loadLayerImage writes a docker save archive of the rootfs plus n-1 one-
// file layers and loads it into box's store as layerImage(n).
func (env *environment) loadLayerImage(n int) error {
	base, err := os.ReadFile(env.rootfsTar)
	if err != nil {
		return err
	}
	layers := [][]byte{base}
	for i := 1; i < n; i++ {
		layer, err := oneFileLayer(fmt.Sprintf("layers/%d", i), []byte(strconv.Itoa(i)+"\n"))
		if err != nil {
			return err
		}
		layers = append(layers, layer)
	}
	archive := filepath.Join(env.work, fmt.Sprintf("layers-%d.tar", n))
	if err := writeDockerSave(archive, layerImage(n), layers); err != nil {
		return err
	}
	defer os.Remove(archive)
	cmd := exec.Command(env.box, "--store", env.store, "load", archive, layerImage(n))
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("box load %s (%d layers): %v\n%s", archive, n, err, b)
	}
	return nil
}

// oneFileLayer is an uncompressed layer tar holding one file and its
// parent directory.
func oneFileLayer(name string, content []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dir := filepath.Dir(name) + "/"
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch}); err != nil {
		return nil, err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: epoch}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(content); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeDockerSave writes the archive docker save would for an image of
// these uncompressed layers, bottom first: each layer as HEX/layer.tar,
// the config as HEX.json (HEX its sha256), and manifest.json naming them.
func writeDockerSave(file, name string, layers [][]byte) error {
	var diffIDs, members []string
	for _, l := range layers {
		sum := sha256.Sum256(l)
		diffIDs = append(diffIDs, "sha256:"+hex.EncodeToString(sum[:]))
		members = append(members, hex.EncodeToString(sum[:])+"/layer.tar")
	}
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": []string{"/bin/true"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	if err != nil {
		return err
	}
	sum := sha256.Sum256(config)
	configName := hex.EncodeToString(sum[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{name}, "Layers": members}})
	if err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	add := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b))}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	seen := map[string]bool{}
	for i, l := range layers {
		if seen[members[i]] {
			continue // identical layers are stored once, as docker save does
		}
		seen[members[i]] = true
		if err = add(members[i], l); err != nil {
			break
		}
	}
	if err == nil {
		err = add(configName, config)
	}
	if err == nil {
		err = add("manifest.json", manifest)
	}
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}
