package security

// ociseccomp.go compiles the seccomp section of an OCI config.json into a
// classic BPF program, as libseccomp does for runc: check the
// architecture, then for each rule and each call it names, compare the
// call's number and its arguments, and return the rule's action; what no
// rule matches gets the default action. Engines send long allowlists
// (podman's and docker's default profiles allow some 350 calls and refuse
// the rest with EPERM), so the program is laid out as small independent
// blocks, each a few instructions: every jump stays short.

import (
	"fmt"
	"runtime"
	"strings"

	"box/final/internal/narrate"
	"box/final/internal/oci"
	"box/final/internal/sys"

	"golang.org/x/sys/unix"
)

// SeccompActions are the OCI action names this compiler knows.
var SeccompActions = []string{"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
	"SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG"}

// SeccompOperators are the argument comparisons it knows.
var SeccompOperators = []string{"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ",
	"SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"}

// SeccompFlags are the filter flags it knows, with their values.
var SeccompFlags = map[string]uintptr{
	"SECCOMP_FILTER_FLAG_TSYNC":      unix.SECCOMP_FILTER_FLAG_TSYNC,
	"SECCOMP_FILTER_FLAG_LOG":        unix.SECCOMP_FILTER_FLAG_LOG,
	"SECCOMP_FILTER_FLAG_SPEC_ALLOW": unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
}

// nativeArch is this machine's AUDIT_ARCH_ value and its OCI name.
func nativeArch() (uint32, string) {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64, "SCMP_ARCH_X86_64"
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64, "SCMP_ARCH_AARCH64"
	}
	return 0, ""
}

// NativeSeccompArch is the OCI name of this machine's architecture.
func NativeSeccompArch() string { _, name := nativeArch(); return name }

// seccompAction is the BPF return value of an OCI action.
func seccompAction(action string, errnoRet *uint, fallback uint32) (uint32, error) {
	errno := fallback
	if errnoRet != nil {
		errno = uint32(*errnoRet)
	}
	switch action {
	case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD":
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case "SCMP_ACT_KILL_PROCESS":
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case "SCMP_ACT_TRAP":
		return unix.SECCOMP_RET_TRAP, nil
	case "SCMP_ACT_ERRNO":
		return unix.SECCOMP_RET_ERRNO | errno&unix.SECCOMP_RET_DATA, nil
	case "SCMP_ACT_TRACE":
		return unix.SECCOMP_RET_TRACE | errno&unix.SECCOMP_RET_DATA, nil
	case "SCMP_ACT_ALLOW":
		return unix.SECCOMP_RET_ALLOW, nil
	case "SCMP_ACT_LOG":
		return unix.SECCOMP_RET_LOG, nil
	case "SCMP_ACT_NOTIFY":
		return 0, fmt.Errorf("seccomp action %s needs a listener (seccomp user notification), which this runtime does not have; use SCMP_ACT_ERRNO", action)
	}
	return 0, fmt.Errorf("unknown seccomp action %q: want one of %s", action, strings.Join(SeccompActions, ", "))
}

// label is a jump target inside a block: a count of instructions to skip
// (0 is the next one), or the end of the block (the rule does not match).
type label int

const (
	next label = 0  // go on with the next instruction
	fail label = -1 // skip to the next block
)

// insn is an instruction whose jumps are labels, resolved per block.
type insn struct {
	f      unix.SockFilter
	jt, jf label
	jump   bool
}

// CompileSeccomp compiles s for this machine's architecture and returns
// the program and the flags to install it with.
func CompileSeccomp(s *oci.Seccomp) (prog []unix.SockFilter, flags uintptr, flagNames string, err error) {
	arch, archName := nativeArch()
	numbers := syscallNumbers()
	if arch == 0 || len(numbers) == 0 {
		return nil, 0, "", fmt.Errorf("seccomp profiles are not supported on %s by this runtime; remove linux.seccomp", runtime.GOARCH)
	}
	defaultErrno := uint32(unix.EPERM)
	if s.DefaultErrnoRet != nil {
		defaultErrno = uint32(*s.DefaultErrnoRet)
	}
	def, err := seccompAction(s.DefaultAction, s.DefaultErrnoRet, defaultErrno)
	if err != nil {
		return nil, 0, "", fmt.Errorf("seccomp defaultAction: %w", err)
	}
	var names []string
	for _, f := range s.Flags {
		v, ok := SeccompFlags[f]
		if !ok {
			return nil, 0, "", fmt.Errorf("unknown seccomp flag %q", f)
		}
		flags |= v
		names = append(names, f)
	}
	flagNames = "0"
	if len(names) > 0 {
		flagNames = strings.Join(names, "|")
	}
	for _, a := range s.Architectures {
		if !strings.HasPrefix(a, "SCMP_ARCH_") {
			return nil, 0, "", fmt.Errorf("unknown seccomp architecture %q, like %s", a, archName)
		}
	}
	ld := func(off uint32) insn {
		return insn{f: unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}}
	}
	ret := func(v uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: v} }
	j := func(op uint16, k uint32, jt, jf label) insn {
		return insn{f: unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, K: k}, jt: jt, jf: jf, jump: true}
	}
	// A call of another architecture (a 32-bit program) has numbers from
	// another table: it gets the default action.
	prog = append(prog, ld(seccompArch).f,
		unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: arch, Jt: 1}, ret(def))
	for _, rule := range s.Syscalls {
		action, err := seccompAction(rule.Action, rule.ErrnoRet, defaultErrno)
		if err != nil {
			return nil, 0, "", fmt.Errorf("seccomp rule for %s: %w", strings.Join(rule.Names, ","), err)
		}
		if action == def {
			continue
		}
		conds, err := argConditions(rule.Args, ld, j)
		if err != nil {
			return nil, 0, "", fmt.Errorf("seccomp rule for %s: %w", strings.Join(rule.Names, ","), err)
		}
		for _, name := range rule.Names {
			nr, ok := numbers[name]
			if !ok {
				continue // a call this architecture does not have, as libseccomp skips it
			}
			block := append([]insn{ld(seccompNr), j(unix.BPF_JEQ, nr, next, fail)}, conds...)
			prog = append(prog, resolve(block, ret(action))...)
		}
	}
	prog = append(prog, ret(def))
	if len(prog) > 4096 {
		return nil, 0, "", fmt.Errorf("the seccomp profile compiles to %d instructions, more than the kernel's 4096", len(prog))
	}
	return prog, flags, flagNames, nil
}

// resolve turns a block's labels into offsets: its instructions, then the
// return; fail jumps past the return.
func resolve(block []insn, ret unix.SockFilter) []unix.SockFilter {
	n := len(block)
	out := make([]unix.SockFilter, 0, n+1)
	for i, in := range block {
		f := in.f
		if in.jump {
			f.Jt, f.Jf = offset(in.jt, i, n), offset(in.jf, i, n)
		}
		out = append(out, f)
	}
	return append(out, ret)
}

// offset is how far instruction i of an n-instruction block jumps for l.
func offset(l label, i, n int) uint8 {
	switch l {
	case fail:
		return uint8(n - i) // past the return at n
	}
	return uint8(l)
}

// argConditions compiles a rule's argument comparisons, all of which must
// hold. Arguments are 64 bits, the BPF machine's words 32: each is
// compared high half first, then low (little-endian layout of
// seccomp_data.args).
func argConditions(args []oci.SeccompArg, ld func(uint32) insn, j func(uint16, uint32, label, label) insn) ([]insn, error) {
	var out []insn
	for _, a := range args {
		if a.Index > 5 {
			return nil, fmt.Errorf("argument index %d: calls have 6 arguments, 0 to 5", a.Index)
		}
		lo, hi := seccompArg0+8*uint32(a.Index), seccompArg0+8*uint32(a.Index)+4
		v := a.Value
		vlo, vhi := uint32(v), uint32(v>>32)
		var c []insn
		switch a.Op {
		case "SCMP_CMP_EQ":
			c = []insn{ld(hi), j(unix.BPF_JEQ, vhi, next, fail), ld(lo), j(unix.BPF_JEQ, vlo, next, fail)}
		case "SCMP_CMP_NE":
			// Differs if the high halves differ (skip the low test), else if the low ones do.
			c = []insn{ld(hi), j(unix.BPF_JEQ, vhi, next, 2), ld(lo), j(unix.BPF_JEQ, vlo, fail, next)}
		case "SCMP_CMP_MASKED_EQ":
			mask, want := a.Value, a.ValueTwo
			and := func(m uint32) insn {
				return insn{f: unix.SockFilter{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: m}}
			}
			c = []insn{ld(hi), and(uint32(mask >> 32)), j(unix.BPF_JEQ, uint32(want>>32), next, fail),
				ld(lo), and(uint32(mask)), j(unix.BPF_JEQ, uint32(want), next, fail)}
		case "SCMP_CMP_GT", "SCMP_CMP_GE":
			op := uint16(unix.BPF_JGT)
			if a.Op == "SCMP_CMP_GE" {
				op = unix.BPF_JGE
			}
			c = []insn{ld(hi), j(unix.BPF_JGT, vhi, 3, next), j(unix.BPF_JEQ, vhi, next, fail), ld(lo), j(op, vlo, next, fail)}
		case "SCMP_CMP_LT", "SCMP_CMP_LE":
			op := uint16(unix.BPF_JGE) // a < v fails when a >= v
			if a.Op == "SCMP_CMP_LE" {
				op = unix.BPF_JGT
			}
			c = []insn{ld(hi), j(unix.BPF_JGT, vhi, fail, next), j(unix.BPF_JEQ, vhi, next, 2), ld(lo), j(op, vlo, fail, next)}
		default:
			return nil, fmt.Errorf("unknown seccomp operator %q: want one of %s", a.Op, strings.Join(SeccompOperators, ", "))
		}
		out = append(out, c...)
	}
	return out, nil
}

// InstallOCISeccomp compiles and installs s on the calling thread.
func InstallOCISeccomp(s *oci.Seccomp) error {
	prog, flags, flagNames, err := CompileSeccomp(s)
	if err != nil {
		return err
	}
	narrate.Explain(narrate.Security, "Install config.json's syscall filter (seccomp): %d rules compiled to %d BPF instructions, default action %s.", len(s.Syscalls), len(prog), s.DefaultAction)
	return sys.SetSeccompFilterFlags(prog, flags, flagNames)
}
