package image

// readfile.go: the store's small files (an image's record, the mount
// table) are read at every container start with plain system calls
// (sys.ReadFileRaw says why).

import "box/final/internal/sys"

// readFile reads the whole file at path; its errors are os.ReadFile's.
var readFile = sys.ReadFileRaw
