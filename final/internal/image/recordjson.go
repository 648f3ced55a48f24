package image

// recordjson.go reads an image's record (images/NAME.json) without
// encoding/json: box run reads one at every start, in a process that
// lives a few milliseconds, and encoding/json's first decode of a type
// builds its tables of every field by reflection. What readImage does not
// read as json.Unmarshal would (a name in other letter case, a fraction)
// goes to encoding/json, so the result is always its.

import "box/final/internal/plainjson"

// decodeImage is json.Unmarshal(b, img), read by hand when it can be.
func decodeImage(b []byte, img *Image) error {
	return plainjson.Unmarshal(b, img, readImage)
}

// readImage reads the record the store writes (json.MarshalIndent).
func readImage(b []byte, img *Image) error {
	r := plainjson.NewReader(b)
	if r.Null() {
		return plainjson.ErrNotPlain
	}
	err := r.Fields([]string{"name", "id", "layers", "config", "history", "created"}, func(name string) error {
		switch name {
		case "name":
			return r.String(&img.Name)
		case "id":
			return r.String(&img.ID)
		case "layers":
			return plainjson.List(r, &img.Layers, func(l *Layer) error {
				return r.Fields([]string{"digest", "size"}, func(name string) error {
					if name == "digest" {
						return r.String(&l.Digest)
					}
					return r.Int(&l.Size, 64)
				})
			})
		case "config":
			c := &img.Config
			return r.Fields([]string{"Env", "Entrypoint", "Cmd", "WorkingDir", "User"}, func(name string) error {
				switch name {
				case "Env":
					return r.Strings(&c.Env)
				case "Entrypoint":
					return r.Strings(&c.Entrypoint)
				case "Cmd":
					return r.Strings(&c.Cmd)
				case "WorkingDir":
					return r.String(&c.WorkingDir)
				default: // "User"
					return r.String(&c.User)
				}
			})
		case "history":
			return plainjson.List(r, &img.History, func(h *History) error {
				return r.Fields([]string{"created", "created_by", "empty_layer"}, func(name string) error {
					switch name {
					case "created":
						return r.String(&h.Created)
					case "created_by":
						return r.String(&h.CreatedBy)
					default: // "empty_layer"
						return r.Bool(&h.EmptyLayer)
					}
				})
			})
		default: // "created"
			return r.Unmarshaler(&img.Created)
		}
	})
	if err != nil {
		return err
	}
	return r.End()
}
