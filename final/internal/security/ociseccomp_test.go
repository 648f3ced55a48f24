package security

import (
	"encoding/binary"
	"testing"

	"box/final/internal/oci"

	"golang.org/x/sys/unix"
)

// runFilter runs a classic BPF seccomp program over one call, as the
// kernel would: the test's stand-in for seccomp(2).
func runFilter(t *testing.T, prog []unix.SockFilter, arch uint32, nr uint32, args [6]uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[0:], nr)
	binary.LittleEndian.PutUint32(data[4:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[16+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= in.K
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			var ok bool
			switch in.Code &^ (unix.BPF_JMP | unix.BPF_K) {
			case unix.BPF_JEQ:
				ok = acc == in.K
			case unix.BPF_JGT:
				ok = acc > in.K
			case unix.BPF_JGE:
				ok = acc >= in.K
			case unix.BPF_JSET:
				ok = acc&in.K != 0
			}
			if ok {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		default:
			t.Fatalf("instruction %d: unknown code %#x", pc, in.Code)
		}
	}
	t.Fatal("the program ran off its end")
	return 0
}

func TestCompileSeccomp(t *testing.T) {
	arch, _ := nativeArch()
	if arch == 0 {
		t.Skip("no syscall table for this architecture")
	}
	errno := func(e uint) *uint { return &e }
	profile := &oci.Seccomp{
		DefaultAction:   "SCMP_ACT_ERRNO",
		DefaultErrnoRet: errno(38),
		Syscalls: []oci.Syscall{
			{Names: []string{"read", "no_such_call"}, Action: "SCMP_ACT_ALLOW"},
			{Names: []string{"personality"}, Action: "SCMP_ACT_ALLOW", Args: []oci.SeccompArg{{Index: 0, Value: 0xffffffff, Op: "SCMP_CMP_EQ"}}},
			{Names: []string{"clone"}, Action: "SCMP_ACT_ALLOW", Args: []oci.SeccompArg{{Index: 0, Value: unix.CLONE_NEWUSER, ValueTwo: 0, Op: "SCMP_CMP_MASKED_EQ"}}},
			{Names: []string{"write"}, Action: "SCMP_ACT_ALLOW", Args: []oci.SeccompArg{{Index: 2, Value: 1 << 32, Op: "SCMP_CMP_GT"}}},
			{Names: []string{"pread64"}, Action: "SCMP_ACT_ALLOW", Args: []oci.SeccompArg{{Index: 1, Value: 5, Op: "SCMP_CMP_LE"}}},
			{Names: []string{"kill"}, Action: "SCMP_ACT_ERRNO", ErrnoRet: errno(1), Args: []oci.SeccompArg{{Index: 1, Value: 9, Op: "SCMP_CMP_NE"}}},
			{Names: []string{"kill"}, Action: "SCMP_ACT_ALLOW"},
		},
	}
	prog, _, _, err := CompileSeccomp(profile)
	if err != nil {
		t.Fatal(err)
	}
	allow, enosys, eperm := uint32(unix.SECCOMP_RET_ALLOW), uint32(unix.SECCOMP_RET_ERRNO|38), uint32(unix.SECCOMP_RET_ERRNO|1)
	nr := func(name string) uint32 { return syscallNumbers()[name] }
	for _, c := range []struct {
		name string
		arch uint32
		nr   uint32
		args [6]uint64
		want uint32
	}{
		{"read is allowed", arch, nr("read"), [6]uint64{}, allow},
		{"an unlisted call gets the default", arch, nr("mount"), [6]uint64{}, enosys},
		{"another architecture gets the default", arch ^ 1, nr("read"), [6]uint64{}, enosys},
		{"personality(0xffffffff)", arch, nr("personality"), [6]uint64{0xffffffff}, allow},
		{"personality with high bits differs", arch, nr("personality"), [6]uint64{1<<32 | 0xffffffff}, enosys},
		{"clone without CLONE_NEWUSER", arch, nr("clone"), [6]uint64{unix.CLONE_NEWNS}, allow},
		{"clone with CLONE_NEWUSER", arch, nr("clone"), [6]uint64{unix.CLONE_NEWUSER | unix.CLONE_NEWNS}, enosys},
		{"write above 2^32", arch, nr("write"), [6]uint64{0, 0, 1<<32 + 1}, allow},
		{"write at 2^32", arch, nr("write"), [6]uint64{0, 0, 1 << 32}, enosys},
		{"write with a larger low half only", arch, nr("write"), [6]uint64{0, 0, 0xffffffff}, enosys},
		{"pread64 at 5", arch, nr("pread64"), [6]uint64{0, 5}, allow},
		{"pread64 at 6", arch, nr("pread64"), [6]uint64{0, 6}, enosys},
		{"pread64 with high bits", arch, nr("pread64"), [6]uint64{0, 1 << 40}, enosys},
		{"kill with another signal: the first rule", arch, nr("kill"), [6]uint64{1, 15}, eperm},
		{"kill with SIGKILL: the second rule", arch, nr("kill"), [6]uint64{1, 9}, allow},
		{"kill with 9 in the high half", arch, nr("kill"), [6]uint64{1, 9 << 32}, eperm},
	} {
		if got := runFilter(t, prog, c.arch, c.nr, c.args); got != c.want {
			t.Errorf("%s: filter returns %#x, want %#x", c.name, got, c.want)
		}
	}
}

func TestCompileSeccompRefusesUnknown(t *testing.T) {
	for _, s := range []*oci.Seccomp{
		{DefaultAction: "SCMP_ACT_NOPE"},
		{DefaultAction: "SCMP_ACT_ALLOW", Syscalls: []oci.Syscall{{Names: []string{"read"}, Action: "SCMP_ACT_ERRNO", Args: []oci.SeccompArg{{Index: 0, Op: "SCMP_CMP_SOMETIMES"}}}}},
		{DefaultAction: "SCMP_ACT_ALLOW", Syscalls: []oci.Syscall{{Names: []string{"read"}, Action: "SCMP_ACT_ERRNO", Args: []oci.SeccompArg{{Index: 6, Op: "SCMP_CMP_EQ"}}}}},
		{DefaultAction: "SCMP_ACT_ALLOW", Flags: []string{"SECCOMP_FILTER_FLAG_NOPE"}},
		{DefaultAction: "SCMP_ACT_NOTIFY"},
	} {
		if _, _, _, err := CompileSeccomp(s); err == nil {
			t.Errorf("%+v compiled, want an error", s)
		}
	}
}
