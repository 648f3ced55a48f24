# The few targets a contributor needs. Binaries are static (CGO_ENABLED=0)
# so a step can be copied into a rootfs for the chroot-escape demo.
STEPS := $(notdir $(wildcard steps/0*))
export CGO_ENABLED := 0

.PHONY: build rootfs test test-unit diffs exercise grade clean

build:
	@mkdir -p bin
	@for s in $(STEPS); do go build -o bin/$$s ./steps/$$s || exit 1; done
	@if [ -d final ]; then go build -o bin/box ./final; fi
	@# The container side of box, a small program box finds next to itself.
	@if [ -d final/cmd/box-init ]; then go build -o bin/box-init ./final/cmd/box-init; fi
	@# The registry client pull and push run, next to box too (net/http, crypto/tls).
	@if [ -d final/cmd/box-registry ]; then go build -o bin/box-registry ./final/cmd/box-registry; fi
	@# What a detached container's monitor becomes once it runs: the copy to the log and the wait.
	@if [ -d final/cmd/box-monitor ]; then go build -o bin/box-monitor ./final/cmd/box-monitor; fi
	@# box's runc command line for engines: create, start, state, kill and
	@# delete itself, the rest through box next to it (final/cmd/box-runc).
	@if [ -d final/cmd/box-runc ]; then rm -f bin/box-runc; go build -o bin/box-runc ./final/cmd/box-runc; fi

rootfs: build
	bin/01-chroot rootfs build rootfs

# Everything, as root: the feature suite, strace check, cgroup VM, final.
test:
	go test -count=1 -timeout 40m ./...

# What runs without root: flag strings, parsers, id maps, golden files.
test-unit:
	go test -count=1 ./steps/... ./final/...

# Regenerate docs/diffs after changing a step.
diffs:
	go test ./tests -run 'TestDiffs' -update

# An exercise to start from: step STEP with its new feature taken out,
# built into DIR/bin (make exercise STEP=03 DIR=~/my-03).
exercise:
	@test -n "$(STEP)" -a -n "$(DIR)" || { echo "usage: make exercise STEP=03 DIR=~/my-03"; exit 2; }
	go run ./exercises --step $(STEP) --dir $(DIR)

# Grade, as root, a binary as step STEP (make grade STEP=03 BIN=~/my-03/bin/03-mount-ns),
# or every checkout under CLASS, with a CSV (make grade STEP=03 CLASS=~/class CSV=grades.csv).
grade:
	@test -n "$(STEP)" -a -n "$(BIN)$(CLASS)" || { echo "usage: make grade STEP=03 BIN=PATH, or STEP=03 CLASS=DIR [CSV=FILE]"; exit 2; }
	go run ./grader --step $(STEP) $(if $(CLASS),--class $(CLASS) $(if $(CSV),--csv $(CSV)),--bin $(BIN))

clean:
	rm -rf bin rootfs
