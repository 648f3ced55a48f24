package cgroups

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Device is a device the container may use, as the devices controller
// names one: a type (c for character, b for block), a major and a minor
// number (-1: any).
type Device struct {
	Type         byte
	Major, Minor int64
}

// Rule is the device's line for devices.allow: "c 1:3 rwm" allows read,
// write and mknod of /dev/null.
func (d Device) Rule() string {
	number := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprintf("%c %s:%s rwm", d.Type, number(d.Major), number(d.Minor))
}

// DeviceOf reads the type and numbers of the device node at path.
func DeviceOf(path string) (Device, error) {
	info, err := os.Stat(path)
	if err != nil {
		return Device{}, fmt.Errorf("device %s: %w", path, err)
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	mode := info.Mode()
	if !ok || mode&os.ModeDevice == 0 {
		return Device{}, fmt.Errorf("%s is not a device node", path)
	}
	d := Device{Type: 'b', Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev))}
	if mode&os.ModeCharDevice != 0 {
		d.Type = 'c'
	}
	return d, nil
}
