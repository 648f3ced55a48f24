package sys

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BPFInsn is one eBPF instruction, laid out as the kernel's struct
// bpf_insn: an opcode, two 4-bit register numbers, a jump offset and an
// immediate value.
type BPFInsn struct {
	Code   uint8
	Regs   uint8 // destination register in the low 4 bits, source in the high 4
	Offset int16
	Imm    int32
}

// bpfProgLoad is the part of union bpf_attr that BPF_PROG_LOAD reads;
// the kernel takes the fields after it as zero.
type bpfProgLoad struct {
	ProgType    uint32
	InsnCount   uint32
	Insns       uint64
	License     uint64
	LogLevel    uint32
	LogSize     uint32
	LogBuf      uint64
	KernVersion uint32
	ProgFlags   uint32
}

// bpfProgAttach is the part of union bpf_attr that BPF_PROG_ATTACH reads.
type bpfProgAttach struct {
	TargetFD    uint32
	AttachBPFFD uint32
	AttachType  uint32
	AttachFlags uint32
}

// bpf is bpf(2); Go has no wrapper for it.
func bpf(cmd uintptr, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// LoadDeviceProgram loads insns as a cgroup device program
// (BPF_PROG_TYPE_CGROUP_DEVICE) and returns its descriptor. The kernel's
// verifier checks the program first; when it refuses, the error carries
// the verifier's log.
func LoadDeviceProgram(insns []BPFInsn, license string) (int, error) {
	if len(insns) == 0 {
		return 0, errors.New("load a device program: no instructions")
	}
	lic := append([]byte(license), 0)
	attr := bpfProgLoad{
		ProgType:  unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		InsnCount: uint32(len(insns)),
		Insns:     uint64(uintptr(unsafe.Pointer(&insns[0]))),
		License:   uint64(uintptr(unsafe.Pointer(&lic[0]))),
	}
	c := fmt.Sprintf("bpf(BPF_PROG_LOAD, {prog_type=BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt=%d, license=%s}, %d)", len(insns), C(license), unsafe.Sizeof(attr))
	fd, err := callValue(c, func() (int, error) {
		fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		runtime.KeepAlive(insns)
		runtime.KeepAlive(lic)
		return fd, err
	})
	if err == nil {
		return fd, nil
	}
	if recorder() == nil && errors.Is(err, unix.EACCES) {
		// The verifier refused: load again, quietly, for its reasons.
		log := make([]byte, 64<<10)
		attr.LogLevel, attr.LogSize = 1, uint32(len(log))
		attr.LogBuf = uint64(uintptr(unsafe.Pointer(&log[0])))
		if fd, again := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); again == nil {
			_ = unix.Close(fd)
		}
		runtime.KeepAlive(insns)
		runtime.KeepAlive(lic)
		runtime.KeepAlive(log)
		text, _, _ := strings.Cut(string(log), "\x00")
		return 0, fmt.Errorf("bpf(BPF_PROG_LOAD) of a device program: %w; the verifier said:\n%s", err, strings.TrimSpace(text))
	}
	return 0, fmt.Errorf("bpf(BPF_PROG_LOAD) of a device program: %w", err)
}

// AttachDeviceProgram attaches the device program prog to the cgroup
// open at cgroupFD. BPF_F_ALLOW_MULTI lets it run alongside programs that
// parent cgroups have (a container manager's), every one of which must
// allow an access.
func AttachDeviceProgram(cgroupFD, prog int) error {
	attr := bpfProgAttach{
		TargetFD:    uint32(cgroupFD),
		AttachBPFFD: uint32(prog),
		AttachType:  unix.BPF_CGROUP_DEVICE,
		AttachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	c := fmt.Sprintf("bpf(BPF_PROG_ATTACH, {target_fd=%d, attach_bpf_fd=%d, attach_type=BPF_CGROUP_DEVICE, attach_flags=BPF_F_ALLOW_MULTI}, %d)", cgroupFD, prog, unsafe.Sizeof(attr))
	err := call(c, func() error {
		_, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		return err
	})
	if err != nil {
		return fmt.Errorf("bpf(BPF_PROG_ATTACH) of a device program: %w", err)
	}
	return nil
}
