// Package dockerfile reads the subset of the Dockerfile language that box
// build knows (see docs.docker.com/reference/dockerfile):
//
//	FROM scratch | IMAGE
//	ADD SRC... DST       a local tar (plain or gzipped) is unpacked at DST
//	COPY SRC... DST
//	ENV KEY=VALUE...     or the older ENV KEY VALUE
//	WORKDIR DIR
//	CMD ["prog", "arg"]  exec form, or CMD prog arg, run by /bin/sh -c
//	RUN ["prog", "arg"]  likewise
//
// Comments (# at the start of a line) and lines continued with a final
// backslash are understood; anything else is refused with the line
// number, rather than built wrongly.
package dockerfile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Instruction is one instruction of a Dockerfile.
type Instruction struct {
	Line    int      // where it starts, for messages
	Command string   // upper case: FROM, ADD, COPY, ENV, WORKDIR, CMD, RUN
	Args    []string // FROM: the image; ADD, COPY: sources then destination; ENV: KEY=VALUE pairs; WORKDIR: the dir; CMD, RUN: the argv
	Text    string   // as written, continuations joined: what history shows
}

// known are the instructions this package reads.
var known = map[string]func(line int, rest string) ([]string, error){
	"FROM":       parseFrom,
	"ADD":        parseSources,
	"COPY":       parseSources,
	"ENV":        parseEnv,
	"WORKDIR":    parseWorkdir,
	"CMD":        parseCommand,
	"ENTRYPOINT": parseCommand,
	"RUN":        parseCommand,
	"USER":       parseUser,
}

// unsupported are the instructions of docker's Dockerfile this builder
// does not know, to say so rather than call them unknown.
var unsupported = map[string]bool{
	"ARG": true, "EXPOSE": true, "HEALTHCHECK": true, "LABEL": true,
	"MAINTAINER": true, "ONBUILD": true, "SHELL": true, "STOPSIGNAL": true, "VOLUME": true,
}

// Parse reads a Dockerfile.
func Parse(r io.Reader) ([]Instruction, error) {
	var out []Instruction
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	lineNo, start := 0, 0
	var pending strings.Builder
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && pending.Len() > 0) {
			continue // comments and blank lines, even inside a continuation
		}
		if trimmed == "" {
			continue
		}
		if pending.Len() == 0 {
			start = lineNo
		}
		if strings.HasSuffix(line, `\`) {
			pending.WriteString(strings.TrimSpace(strings.TrimSuffix(trimmed, `\`)))
			pending.WriteString(" ")
			continue
		}
		pending.WriteString(trimmed)
		ins, err := parseInstruction(start, pending.String())
		if err != nil {
			return nil, err
		}
		out = append(out, ins)
		pending.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read Dockerfile: %w", err)
	}
	if pending.Len() > 0 {
		return nil, fmt.Errorf("Dockerfile line %d: the last line ends with a backslash, continuing into nothing", start)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the Dockerfile has no instructions; start it with FROM scratch or FROM IMAGE")
	}
	if out[0].Command != "FROM" {
		return nil, fmt.Errorf("Dockerfile line %d: the first instruction must be FROM (scratch, or an image), not %s", out[0].Line, out[0].Command)
	}
	for _, ins := range out[1:] {
		if ins.Command == "FROM" {
			return nil, fmt.Errorf("Dockerfile line %d: a second FROM starts another stage; multi-stage builds are not supported", ins.Line)
		}
	}
	return out, nil
}

// parseInstruction splits "KEYWORD rest" and parses rest for the keyword.
func parseInstruction(line int, text string) (Instruction, error) {
	keyword, rest, _ := strings.Cut(text, " ")
	keyword = strings.ToUpper(keyword)
	rest = strings.TrimSpace(rest)
	parse, ok := known[keyword]
	if !ok {
		if unsupported[keyword] {
			return Instruction{}, fmt.Errorf("Dockerfile line %d: %s is not supported by this builder; it knows FROM, ADD, COPY, ENV, WORKDIR, CMD and RUN", line, keyword)
		}
		return Instruction{}, fmt.Errorf("Dockerfile line %d: unknown instruction %q; this builder knows FROM, ADD, COPY, ENV, WORKDIR, CMD and RUN", line, keyword)
	}
	if rest == "" {
		return Instruction{}, fmt.Errorf("Dockerfile line %d: %s needs arguments", line, keyword)
	}
	args, err := parse(line, rest)
	if err != nil {
		return Instruction{}, err
	}
	return Instruction{Line: line, Command: keyword, Args: args, Text: keyword + " " + rest}, nil
}

func parseFrom(line int, rest string) ([]string, error) {
	f := strings.Fields(rest)
	if len(f) != 1 {
		return nil, fmt.Errorf("Dockerfile line %d: FROM takes one image (FROM ... AS NAME starts a stage, and stages are not supported)", line)
	}
	return f, nil
}

// parseSources reads "SRC... DST", or the JSON form ["SRC", ..., "DST"].
func parseSources(line int, rest string) ([]string, error) {
	var args []string
	if strings.HasPrefix(rest, "[") {
		if err := json.Unmarshal([]byte(rest), &args); err != nil {
			return nil, fmt.Errorf("Dockerfile line %d: %s is not a JSON array of strings: %v", line, rest, err)
		}
	} else {
		args = strings.Fields(rest)
	}
	if len(args) > 0 && strings.HasPrefix(args[0], "--") {
		return nil, fmt.Errorf("Dockerfile line %d: the option %s is not supported by this builder", line, args[0])
	}
	if len(args) < 2 {
		return nil, fmt.Errorf("Dockerfile line %d: give a source and a destination, like COPY hello.txt /etc/", line)
	}
	return args, nil
}

// parseEnv reads KEY=VALUE pairs, values quoted as a shell would quote
// them, or the older form KEY VALUE, whose value is the rest of the line.
func parseEnv(line int, rest string) ([]string, error) {
	key, value, _ := strings.Cut(rest, " ")
	if !strings.Contains(key, "=") {
		if strings.TrimSpace(value) == "" {
			return nil, fmt.Errorf("Dockerfile line %d: ENV %s has no value; write ENV %s=VALUE", line, key, key)
		}
		return []string{key + "=" + strings.TrimSpace(value)}, nil
	}
	words, err := splitWords(rest)
	if err != nil {
		return nil, fmt.Errorf("Dockerfile line %d: %v", line, err)
	}
	for _, w := range words {
		k, _, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("Dockerfile line %d: ENV %q is not KEY=VALUE", line, w)
		}
	}
	return words, nil
}

func parseWorkdir(line int, rest string) ([]string, error) {
	words, err := splitWords(rest)
	if err != nil || len(words) != 1 {
		return nil, fmt.Errorf("Dockerfile line %d: WORKDIR takes one directory", line)
	}
	return words, nil
}

// parseUser reads USER NAME[:GROUP]: who later RUN steps and the
// container's command run as.
func parseUser(line int, rest string) ([]string, error) {
	words, err := splitWords(rest)
	if err != nil || len(words) != 1 {
		return nil, fmt.Errorf("Dockerfile line %d: USER takes one user, like USER 1000:1000 or USER nobody", line)
	}
	return words, nil
}

// parseCommand reads the exec form, a JSON array, or the shell form,
// which runs as /bin/sh -c "rest", as docker does.
func parseCommand(line int, rest string) ([]string, error) {
	if !strings.HasPrefix(rest, "[") {
		return []string{"/bin/sh", "-c", rest}, nil
	}
	var argv []string
	if err := json.Unmarshal([]byte(rest), &argv); err != nil {
		return nil, fmt.Errorf("Dockerfile line %d: %s is not a JSON array of strings (the exec form wants double quotes: [\"echo\", \"hi\"]): %v", line, rest, err)
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, fmt.Errorf("Dockerfile line %d: the command is empty", line)
	}
	return argv, nil
}

// splitWords splits s at unquoted blanks, removing quotes and the
// backslashes that escape a character, as a shell would.
func splitWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			w.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %s", quote, s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}
