package cgroups

import (
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// cgroup v2 has no devices.allow file: a device allowlist is an eBPF
// program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup. The
// kernel runs it at every mknod(2) and open(2) of a device node by a
// process of the cgroup, with a struct bpf_cgroup_dev_ctx as its context:
//
//	struct bpf_cgroup_dev_ctx {
//		__u32 access_type; /* (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_* */
//		__u32 major;
//		__u32 minor;
//	};
//
// The program returns 1 to allow the access and 0 to refuse it (EPERM).
// deviceProgram writes the same allowlist as v1's devices.allow lines:
// every listed device may be read, written and created; nothing else.

// The registers the program uses.
const (
	regReturn = 0 // r0: the program's result
	regCtx    = 1 // r1: the context, on entry
	regType   = 2 // the device type: BPF_DEVCG_DEV_BLOCK or _CHAR
	regMajor  = 3
	regMinor  = 4
)

// Offsets of the context's fields.
const (
	ctxAccessType = 0
	ctxMajor      = 4
	ctxMinor      = 8
)

// deviceLicense is the program's license string; the kernel wants one,
// and a device program calls no helper restricted to GPL programs.
const deviceLicense = "Apache-2.0"

func loadWord(dst, src uint8, offset int16) sys.BPFInsn {
	return sys.BPFInsn{Code: unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W, Regs: dst | src<<4, Offset: offset}
}

func andImm(dst uint8, imm int32) sys.BPFInsn {
	return sys.BPFInsn{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, Regs: dst, Imm: imm}
}

func jumpIfNotEqual(dst uint8, imm int32, skip int16) sys.BPFInsn {
	return sys.BPFInsn{Code: unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K, Regs: dst, Offset: skip, Imm: imm}
}

func moveImm(dst uint8, imm int32) sys.BPFInsn {
	return sys.BPFInsn{Code: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K, Regs: dst, Imm: imm}
}

func exit() sys.BPFInsn { return sys.BPFInsn{Code: unix.BPF_JMP | unix.BPF_EXIT} }

// deviceProgram compiles devices into a device program: load the type,
// major and minor from the context; for each device, return 1 if all
// three match (a negative number matches any); at the end, return 0.
func deviceProgram(devices []Device) []sys.BPFInsn {
	prog := []sys.BPFInsn{
		loadWord(regType, regCtx, ctxAccessType),
		andImm(regType, 0xffff), // the low half is the type; the high half, the access
		loadWord(regMajor, regCtx, ctxMajor),
		loadWord(regMinor, regCtx, ctxMinor),
	}
	for _, d := range devices {
		var tests []sys.BPFInsn // each jumps past this device's block when it fails
		devType := int32(unix.BPF_DEVCG_DEV_CHAR)
		if d.Type == 'b' {
			devType = unix.BPF_DEVCG_DEV_BLOCK
		}
		tests = append(tests, jumpIfNotEqual(regType, devType, 0))
		if d.Major >= 0 {
			tests = append(tests, jumpIfNotEqual(regMajor, int32(d.Major), 0))
		}
		if d.Minor >= 0 {
			tests = append(tests, jumpIfNotEqual(regMinor, int32(d.Minor), 0))
		}
		for i := range tests {
			// Past the remaining tests and the two instructions that allow.
			tests[i].Offset = int16(len(tests) - 1 - i + 2)
		}
		prog = append(prog, tests...)
		prog = append(prog, moveImm(regReturn, 1), exit())
	}
	return append(prog, moveImm(regReturn, 0), exit())
}
