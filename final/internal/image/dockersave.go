package image

// dockersave.go reads what docker save writes: a tar with manifest.json,
// which lists each image's config file, its names (RepoTags) and its layer
// tars, bottom first. Before docker 25 a layer is ID/layer.tar; since, the
// archive is also an OCI layout and the layers are blobs/sha256/HEX.

// dockerManifest is one entry of manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// dockerImages reads the manifest.json of docker save.
func dockerImages(a archive) ([]archiveImage, error) {
	var manifest []dockerManifest
	if err := readJSON(a, "manifest.json", &manifest); err != nil {
		return nil, err
	}
	var imgs []archiveImage
	for _, m := range manifest {
		imgs = append(imgs, archiveImage{names: m.RepoTags, config: m.Config, layers: m.Layers})
	}
	return imgs, nil
}
