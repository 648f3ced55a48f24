package dockerfile

import (
	"fmt"
	"strings"
)

// Expand replaces the variables in s with their values in env (KEY=VALUE
// entries), as docker does in ENV, WORKDIR, COPY, ADD and USER: $NAME,
// ${NAME}, ${NAME:-default} (default when NAME is unset or empty) and
// ${NAME:+alternative} (alternative when NAME is set and not empty). An
// unknown variable is empty. RUN, CMD and ENTRYPOINT are left to the shell.
func Expand(s string, env []string) (string, error) {
	lookup := func(name string) string {
		for i := len(env) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
				return v
			}
		}
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		if s[i+1] == '{' {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("%q: ${ without its closing }", s)
			}
			inner := s[i+2 : i+end]
			i += end
			name, op, word := inner, "", ""
			if j := strings.Index(inner, ":"); j >= 0 {
				name, op, word = inner[:j], inner[j:min(j+2, len(inner))], inner[min(j+2, len(inner)):]
			}
			if !isName(name) {
				return "", fmt.Errorf("%q: ${%s} is not a variable name", s, inner)
			}
			value := lookup(name)
			switch op {
			case "":
				b.WriteString(value)
			case ":-":
				if value == "" {
					value = word
				}
				b.WriteString(value)
			case ":+":
				if value != "" {
					b.WriteString(word)
				}
			default:
				return "", fmt.Errorf("%q: ${%s}: only ${NAME:-default} and ${NAME:+alternative} are supported", s, inner)
			}
			continue
		}
		j := i + 1
		for j < len(s) && (s[j] == '_' || isAlnum(s[j])) {
			j++
		}
		if j == i+1 { // a lone $: kept
			b.WriteByte('$')
			continue
		}
		b.WriteString(lookup(s[i+1 : j]))
		i = j - 1
	}
	return b.String(), nil
}

func isName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '_' && !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
