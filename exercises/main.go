// Command exercises makes the exercise of a step: a copy of the step's
// program with the code of its new feature taken out, which a learner
// writes back, chapter in hand.
//
//	go run ./exercises --step 03 --dir ~/my-03    (or: make exercise STEP=03 DIR=~/my-03)
//
// What comes out is named by a manifest per step, exercises/NN.txt, kept
// outside the step's directory so that the step's sources carry no
// markers. The manifest names functions whose bodies become stubs, and
// clone flags that leave their flag expressions. A stub says on stderr
// that the function is the learner's to write, and where the chapter
// explains it, then returns zero values (or runs the fallback the
// manifest gives, so that the program still does what the step before
// it did). The features of the earlier steps keep working; the grader
// (go run ./grader) shows the new ones failing until they are written.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

func main() {
	step := flag.String("step", "", "the step to make an exercise of: 02 to 07, or its full name (03-mount-ns)")
	dir := flag.String("dir", "", "where to put the exercise; it must not exist or be empty")
	repo := flag.String("repo", ".", "the repository (the directory holding go.mod and steps/)")
	build := flag.Bool("build", true, "build the exercise into DIR/bin/STEP")
	flag.Parse()
	if *step == "" || *dir == "" {
		fmt.Fprintln(os.Stderr, "exercises: give --step and --dir, like: go run ./exercises --step 03 --dir ~/my-03")
		os.Exit(2)
	}
	m, err := make1(*repo, *step, *dir, *build)
	if err != nil {
		fmt.Fprintf(os.Stderr, "exercises: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("Made the exercise of %s in %s: %d function(s) to write, %d clone flag(s) to add.\n", m.step, *dir, len(m.stubs), len(m.flags))
	for _, s := range m.stubs {
		fmt.Printf("  %s: %s\n", s.file, s.name)
	}
	for _, f := range m.flags {
		fmt.Printf("  %s: %s\n", f.file, f.name)
	}
	fmt.Printf("Build: cd %s && CGO_ENABLED=0 go build -o bin/%s .\nGrade: go run ./grader --step %s --bin %s\n",
		*dir, m.step, m.step[:2], filepath.Join(*dir, "bin", m.step))
}

// manifest is exercises/NN.txt, parsed.
type manifest struct {
	step  string // 03-mount-ns
	doc   string // docs/03-mount-ns.md#the-diff-from-step-02, what stubs point to
	stubs []stub
	flags []flagOut
	keeps map[string]string // features the exercise still shows, and why
}

// stub is a function whose body the exercise replaces.
type stub struct {
	file, name string // name is Func or Type.Method
	fallback   string // Go statements run after the hint, instead of returning zero values
}

// flagOut is a clone flag the exercise leaves out of an expression.
type flagOut struct {
	file, name string // name like CLONE_NEWPID
}

// parseManifest reads a manifest. Lines:
//
//	step 03-mount-ns
//	doc docs/03-mount-ns.md#section
//	stub FILE FUNC            (or Type.Method), then optional tab-indented fallback lines
//	flag FILE CLONE_NAME
//	keep FEATURE NAME -- why the exercise still shows it
//
// and # comments.
func parseManifest(text string) (manifest, error) {
	m := manifest{keeps: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "\t") {
			if len(m.stubs) == 0 {
				return m, fmt.Errorf("line %d: an indented fallback line belongs after a stub line", n)
			}
			s := &m.stubs[len(m.stubs)-1]
			s.fallback += line[1:] + "\n"
			continue
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		f := strings.Fields(rest)
		switch {
		case word == "step" && len(f) == 1:
			m.step = f[0]
		case word == "doc" && len(f) == 1:
			m.doc = f[0]
		case word == "stub" && len(f) == 2:
			m.stubs = append(m.stubs, stub{file: f[0], name: f[1]})
		case word == "flag" && len(f) == 2:
			m.flags = append(m.flags, flagOut{file: f[0], name: f[1]})
		case word == "keep":
			name, why, ok := strings.Cut(rest, " -- ")
			if !ok {
				return m, fmt.Errorf("line %d: keep FEATURE -- WHY", n)
			}
			m.keeps[strings.TrimSpace(name)] = strings.TrimSpace(why)
		default:
			return m, fmt.Errorf("line %d: %q is not a manifest line (step, doc, stub, flag, keep)", n, line)
		}
	}
	if m.step == "" || m.doc == "" {
		return m, errors.New("the manifest needs a step line and a doc line")
	}
	return m, sc.Err()
}

// findStep turns "03" or "03-mount-ns" into the step's directory name.
func findStep(repo, step string) (string, error) {
	matches, _ := filepath.Glob(filepath.Join(repo, "steps", step[:min(2, len(step))]+"-*"))
	for _, m := range matches {
		if name := filepath.Base(m); name == step || len(step) == 2 {
			return name, nil
		}
	}
	return "", fmt.Errorf("no step %q under %s/steps", step, repo)
}

// make1 writes the exercise of step into dir and, with build, builds it.
func make1(repo, step, dir string, build bool) (manifest, error) {
	name, err := findStep(repo, step)
	if err != nil {
		return manifest{}, err
	}
	raw, err := os.ReadFile(filepath.Join(repo, "exercises", name[:2]+".txt"))
	if err != nil {
		return manifest{}, fmt.Errorf("step %s has no exercise: %w", name, err)
	}
	m, err := parseManifest(string(raw))
	if err != nil {
		return m, fmt.Errorf("exercises/%s.txt: %w", name[:2], err)
	}
	if m.step != name {
		return m, fmt.Errorf("exercises/%s.txt is for %s, not %s", name[:2], m.step, name)
	}
	files, err := exerciseFiles(filepath.Join(repo, "steps", name), m)
	if err != nil {
		return m, err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return m, fmt.Errorf("%s is not empty: give a new directory", dir)
	}
	goMod, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		return m, err
	}
	goSum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		return m, err
	}
	files["go.mod"] = bytes.Replace(goMod, []byte("module box\n"), []byte("module exercise\n"), 1)
	files["go.sum"] = goSum
	files["exercise.go"] = []byte(hintFile)
	files["EXERCISE.md"] = []byte(readme(m))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return m, fmt.Errorf("mkdir %s: %w", dir, err)
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			return m, fmt.Errorf("write %s: %w", filepath.Join(dir, n), err)
		}
	}
	if !build {
		return m, nil
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join("bin", name), ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return m, fmt.Errorf("build the exercise in %s: %v\n%s", dir, err, out)
	}
	return m, nil
}

// hintFile is the exercise's own helper, which every stub calls.
const hintFile = `package main

import (
	"fmt"
	"os"
)

// exercise says that a function is the learner's to write, and where the
// chapter explains what it must do.
func exercise(name, where string) {
	fmt.Fprintf(os.Stderr, "%s: exercise: %s is yours to write (see %s)\n", programName(), name, where)
}
`

// readme is EXERCISE.md: what to write, how to build and grade it.
func readme(m manifest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Exercise: %s\n\nThis is step %s with the code of its new feature taken out. Read\n%s, then write these back:\n\n", m.step, m.step, m.doc)
	for _, s := range m.stubs {
		fmt.Fprintf(&b, "- `%s` in `%s`\n", s.name, s.file)
	}
	for _, f := range m.flags {
		fmt.Fprintf(&b, "- the clone flag `%s`, in `%s` (look for `exercise:`)\n", f.name, f.file)
	}
	fmt.Fprintf(&b, "\nEach stub prints `exercise: ... is yours to write` when it runs. Build and grade, as root:\n\n"+
		"```\nCGO_ENABLED=0 go build -o bin/%s .\ngo run ./grader --step %s --bin $PWD/bin/%s   # in the box repository\n```\n", m.step, m.step[:2], m.step)
	return b.String()
}

// exerciseFiles reads the step's program files (tests left out) and
// rewrites those the manifest names.
func exerciseFiles(stepDir string, m manifest) (map[string][]byte, error) {
	paths, err := filepath.Glob(filepath.Join(stepDir, "*.go"))
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		files[filepath.Base(p)] = b
	}
	byFile := map[string][]edit{}
	for _, s := range m.stubs {
		byFile[s.file] = append(byFile[s.file], edit{stub: s})
	}
	for _, f := range m.flags {
		byFile[f.file] = append(byFile[f.file], edit{flag: f})
	}
	for name, edits := range byFile {
		src, ok := files[name]
		if !ok {
			return nil, fmt.Errorf("the manifest names %s, which step %s does not have", name, m.step)
		}
		out, err := rewrite(name, src, edits, m.doc)
		if err != nil {
			return nil, err
		}
		files[name] = out
	}
	return files, nil
}

// edit is one change to a file: a stub or a flag taken out.
type edit struct {
	stub stub
	flag flagOut
}

// splice replaces src[start:end] with text.
type splice struct {
	start, end int
	text       string
}

// rewrite applies edits to one file through its syntax tree, then drops
// the imports the removed code alone used, and formats the result.
func rewrite(name string, src []byte, edits []edit, doc string) ([]byte, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, name, src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	off := func(p token.Pos) int { return fset.Position(p).Offset }
	var splices []splice
	for _, e := range edits {
		switch {
		case e.stub.name != "":
			fn := findFunc(file, e.stub.name)
			if fn == nil || fn.Body == nil {
				return nil, fmt.Errorf("%s has no function %s", name, e.stub.name)
			}
			body := fmt.Sprintf("{\n\texercise(%q, %q)\n", e.stub.name, doc)
			if e.stub.fallback != "" {
				body += e.stub.fallback
			} else if fn.Type.Results != nil {
				var zeros []string
				for _, r := range fn.Type.Results.List {
					typ := string(src[off(r.Type.Pos()):off(r.Type.End())])
					for i := 0; i < max(1, len(r.Names)); i++ {
						zeros = append(zeros, zeroValue(typ))
					}
				}
				body += "\treturn " + strings.Join(zeros, ", ") + "\n"
			}
			splices = append(splices, splice{off(fn.Body.Lbrace), off(fn.Body.Rbrace) + 1, body + "}"})
		case e.flag.name != "":
			found := false
			ast.Inspect(file, func(n ast.Node) bool {
				if kv, ok := n.(*ast.KeyValueExpr); ok && !found && isFlag(kv.Value, e.flag.name) {
					// The flag alone, as in Cloneflags: unix.CLONE_NEWPID.
					splices = append(splices, splice{off(kv.Value.Pos()), off(kv.Value.End()), "0 /* exercise: a clone flag is missing here, see " + doc + " */"})
					found = true
				}
				be, ok := n.(*ast.BinaryExpr)
				if !ok || be.Op != token.OR || found {
					return !found
				}
				if isFlag(be.Y, e.flag.name) {
					splices = append(splices, splice{off(be.X.End()), off(be.Y.End()), " /* exercise: a clone flag is missing here, see " + doc + " */"})
					found = true
				} else if isFlag(be.X, e.flag.name) {
					splices = append(splices, splice{off(be.X.Pos()), off(be.Y.Pos()), "/* exercise: a clone flag is missing here, see " + doc + " */ "})
					found = true
				}
				return !found
			})
			if !found {
				return nil, fmt.Errorf("%s has no %s in a | expression", name, e.flag.name)
			}
		}
	}
	sort.Slice(splices, func(i, j int) bool { return splices[i].start > splices[j].start })
	out := append([]byte(nil), src...)
	for _, s := range splices {
		out = append(out[:s.start:s.start], append([]byte(s.text), out[s.end:]...)...)
	}
	out, err = dropUnusedImports(name, out)
	if err != nil {
		return nil, err
	}
	return format.Source(out)
}

// zeroValue is the zero value of a type, as a learner would write it.
func zeroValue(typ string) string {
	switch {
	case typ == "error" || strings.HasPrefix(typ, "*") || strings.HasPrefix(typ, "[]") ||
		strings.HasPrefix(typ, "map[") || strings.HasPrefix(typ, "func") || strings.HasPrefix(typ, "chan "):
		return "nil"
	case typ == "string":
		return `""`
	case typ == "bool":
		return "false"
	case strings.HasPrefix(typ, "int") || strings.HasPrefix(typ, "uint") || strings.HasPrefix(typ, "float"):
		return "0"
	}
	return "*new(" + typ + ")"
}

// findFunc finds a function, or a method written Type.Method.
func findFunc(file *ast.File, name string) *ast.FuncDecl {
	recv, fname, isMethod := strings.Cut(name, ".")
	if !isMethod {
		fname, recv = name, ""
	}
	for _, d := range file.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != fname {
			continue
		}
		if (fn.Recv == nil) != (recv == "") {
			continue
		}
		if recv != "" && receiverType(fn) != recv {
			continue
		}
		return fn
	}
	return nil
}

// receiverType is the name of a method's receiver type, without a star.
func receiverType(fn *ast.FuncDecl) string {
	t := fn.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// isFlag tells whether e is NAME or pkg.NAME.
func isFlag(e ast.Expr, name string) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name == name
	case *ast.SelectorExpr:
		return x.Sel.Name == name
	}
	return false
}

// dropUnusedImports removes the imports no identifier of the file uses
// any more (Go refuses to build a file with an unused import).
func dropUnusedImports(name string, src []byte) ([]byte, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, name, src, parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("%s after the stubs: %w", name, err)
	}
	used := map[string]bool{}
	ast.Inspect(file, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				used[id.Name] = true
			}
		}
		return true
	})
	var splices []splice
	for _, imp := range file.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		local := filepath.Base(path)
		if imp.Name != nil {
			local = imp.Name.Name
		}
		if local == "_" || local == "." || used[local] {
			continue
		}
		start, end := fset.Position(imp.Pos()).Offset, fset.Position(imp.End()).Offset
		splices = append(splices, splice{start, end, ""})
	}
	sort.Slice(splices, func(i, j int) bool { return splices[i].start > splices[j].start })
	out := append([]byte(nil), src...)
	for _, s := range splices {
		out = append(out[:s.start:s.start], out[s.end:]...)
	}
	return out, nil
}
