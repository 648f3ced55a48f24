package security

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// runSeccomp interprets the classic BPF instructions seccompFilter writes
// for one system call, as the kernel would, and returns the action.
func runSeccomp(t *testing.T, prog []unix.SockFilter, arch, nr uint32, arg0 uint64) uint32 {
	t.Helper()
	data := make([]byte, 64) // struct seccomp_data
	binary.LittleEndian.PutUint32(data[seccompNr:], nr)
	binary.LittleEndian.PutUint32(data[seccompArch:], arch)
	binary.LittleEndian.PutUint64(data[seccompArg0:], arg0)
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			var taken bool
			switch in.Code &^ (unix.BPF_JMP | unix.BPF_K) {
			case unix.BPF_JEQ:
				taken = acc == in.K
			case unix.BPF_JGE:
				taken = acc >= in.K
			case unix.BPF_JSET:
				taken = acc&in.K != 0
			}
			if taken {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("pc %d: opcode %#x not expected", pc, in.Code)
		}
	}
	t.Fatal("ran off the end of the filter")
	return 0
}

func TestSeccompFilter(t *testing.T) {
	table, ok := seccompTable()
	if !ok {
		t.Skip("no table for this architecture")
	}
	prog := seccompFilter(table.arch, table.refused, table.clone, table.clone3, table.x32)
	allow := uint32(unix.SECCOMP_RET_ALLOW)
	eperm := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
	enosys := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
	goThread := uint64(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD)
	tests := []struct {
		name string
		arch uint32
		nr   uint32
		arg0 uint64
		want uint32
	}{
		{"getpid", table.arch, unix.SYS_GETPID, 0, allow},
		{"openat", table.arch, unix.SYS_OPENAT, 0, allow},
		{"keyctl", table.arch, unix.SYS_KEYCTL, 0, eperm},
		{"unshare", table.arch, unix.SYS_UNSHARE, unix.CLONE_NEWUSER, eperm},
		{"first refused", table.arch, table.refused[0], 0, eperm},
		{"last refused", table.arch, table.refused[len(table.refused)-1], 0, eperm},
		{"clone3", table.arch, table.clone3, 0, enosys},
		{"fork by clone", table.arch, table.clone, uint64(unix.SIGCHLD), allow},
		{"a thread by clone", table.arch, table.clone, goThread, allow},
		{"clone into a user namespace", table.arch, table.clone, unix.CLONE_NEWUSER | uint64(unix.SIGCHLD), eperm},
		{"clone into a network namespace", table.arch, table.clone, unix.CLONE_NEWNET, eperm},
		{"another architecture", table.arch ^ 1, unix.SYS_GETPID, 0, enosys},
	}
	if table.x32 {
		tests = append(tests, struct {
			name string
			arch uint32
			nr   uint32
			arg0 uint64
			want uint32
		}{"x32 numbering", table.arch, 0x40000000 | unix.SYS_GETPID, 0, enosys})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runSeccomp(t, prog, tt.arch, tt.nr, tt.arg0); got != tt.want {
				t.Errorf("action %#x, want %#x", got, tt.want)
			}
		})
	}
}
