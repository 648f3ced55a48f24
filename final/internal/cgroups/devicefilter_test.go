package cgroups

import (
	"fmt"
	"testing"

	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// runDeviceProgram interprets the few eBPF instructions deviceProgram
// writes, as the kernel would run them for one access.
func runDeviceProgram(t *testing.T, prog []sys.BPFInsn, accessType, major, minor uint32) int64 {
	t.Helper()
	ctx := []uint32{accessType, major, minor}
	var reg [11]uint64
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		dst, src := in.Regs&0xf, in.Regs>>4
		switch in.Code {
		case unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W:
			if src != regCtx || in.Offset%4 != 0 || int(in.Offset/4) >= len(ctx) {
				t.Fatalf("pc %d: load from r%d%+d, outside the context", pc, src, in.Offset)
			}
			reg[dst] = uint64(ctx[in.Offset/4])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			reg[dst] = uint64(uint32(reg[dst]) & uint32(in.Imm))
		case unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K:
			if reg[dst] != uint64(int64(in.Imm)) {
				pc += int(in.Offset)
			}
		case unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K:
			reg[dst] = uint64(int64(in.Imm))
		case unix.BPF_JMP | unix.BPF_EXIT:
			return int64(reg[regReturn])
		default:
			t.Fatalf("pc %d: opcode %#x not expected", pc, in.Code)
		}
	}
	t.Fatal("ran off the end of the program")
	return 0
}

func TestDeviceProgram(t *testing.T) {
	allowlist := []Device{{'c', 1, 3}, {'c', 136, -1}, {'b', 7, 0}}
	char, block := uint32(unix.BPF_DEVCG_DEV_CHAR), uint32(unix.BPF_DEVCG_DEV_BLOCK)
	read := uint32(unix.BPF_DEVCG_ACC_READ) << 16
	mknod := uint32(unix.BPF_DEVCG_ACC_MKNOD) << 16
	tests := []struct {
		name         string
		devices      []Device
		access, kind uint32
		major, minor uint32
		want         int64
	}{
		{"null read", allowlist, read, char, 1, 3, 1},
		{"null mknod", allowlist, mknod, char, 1, 3, 1},
		{"mem", allowlist, read, char, 1, 1, 0},
		{"any pts", allowlist, read, char, 136, 42, 1},
		{"block 7:0", allowlist, read, block, 7, 0, 1},
		{"char 7:0 is not block 7:0", allowlist, read, char, 7, 0, 0},
		{"block 1:3 is not char 1:3", allowlist, read, block, 1, 3, 0},
		{"disk", allowlist, mknod, block, 8, 0, 0},
		{"empty allowlist", nil, read, char, 1, 3, 0},
		{"any char", []Device{{'c', -1, -1}}, read, char, 250, 7, 1},
		{"any char, not block", []Device{{'c', -1, -1}}, read, block, 250, 7, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog := deviceProgram(tt.devices)
			if got := runDeviceProgram(t, prog, tt.access|tt.kind, tt.major, tt.minor); got != tt.want {
				t.Errorf("program(%s) for %d:%d returned %d, want %d", fmt.Sprint(tt.devices), tt.major, tt.minor, got, tt.want)
			}
		})
	}
}
