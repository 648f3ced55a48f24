module box

go 1.22

require (
	github.com/alecthomas/kong v1.17.0
	github.com/fatih/color v1.18.0
	github.com/google/go-cmp v0.7.0
	golang.org/x/sys v0.30.0
)

require (
	github.com/mattn/go-colorable v0.1.13 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
)
