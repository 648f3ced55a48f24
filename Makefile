# The few targets a contributor needs. Binaries are static (CGO_ENABLED=0)
# so a step can be copied into a rootfs for the chroot-escape demo.
STEPS := $(notdir $(wildcard steps/0*))
export CGO_ENABLED := 0

.PHONY: build rootfs test test-unit diffs clean

build:
	@mkdir -p bin
	@for s in $(STEPS); do go build -o bin/$$s ./steps/$$s || exit 1; done
	@if [ -d final ]; then go build -o bin/box ./final; fi
	@# box answers to the runc command line under this name (final/oci.go).
	@if [ -d final ]; then ln -sf box bin/box-runc; fi

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

clean:
	rm -rf bin rootfs
