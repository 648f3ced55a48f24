package security

// MaskPaths hides each of paths, as config.json's linux.maskedPaths asks:
// /dev/null over a file, an empty read-only tmpfs over a directory; a path
// this kernel lacks is skipped.
func MaskPaths(paths []string) error {
	for _, p := range paths {
		if err := mask(p); err != nil {
			return err
		}
	}
	return nil
}

// ReadOnlyPathsOf makes each of paths a read-only bind of itself, as
// config.json's linux.readonlyPaths asks; a missing path is skipped.
func ReadOnlyPathsOf(paths []string) error {
	for _, p := range paths {
		if err := readOnly(p); err != nil {
			return err
		}
	}
	return nil
}
