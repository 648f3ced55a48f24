package main

// run_args.go reads box run's everyday command lines without kong, as
// box-runc reads an engine's (internal/runccli): kong's parser, even of
// run's model alone (newParser), reflects over every flag of run, parses
// every tag and interpolates every help text, and perf put it at about a
// sixteenth of a whole box run's CPU, before anything else can start.
// This reads the flags by their tags (name, short, default, enum) with a
// plain loop: each flag given as --name VALUE, --name=VALUE, -s VALUE or
// a cluster of one-letter switches, then IMAGE and the command, taken
// whole. Anything else (help, --, a flag it does not know, a value that
// starts with a dash or is not in the flag's enum, --entrypoint, no
// image) goes to kong, whose errors and help are the command line's; both
// fill the same cli and run the same Run (TestRunFastAgreesWithKong).

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// fastFlag is one flag of the command line: where its value goes.
type fastFlag struct {
	value reflect.Value // the field
	enum  []string      // its enum tag's values, if it has one
}

// parseRunFast reads args into c, which it leaves with kong's defaults, or
// returns false for kong to read them.
func parseRunFast(c *cli, args []string) bool {
	byName := map[string]fastFlag{}
	cv := reflect.ValueOf(c).Elem()
	fastFlags(cv, byName, func(f reflect.StructField) bool { _, cmd := f.Tag.Lookup("cmd"); return !cmd })
	i := 0
	for ; i < len(args) && args[i] != "run"; i++ {
		if !setFastFlag(byName, args, &i) {
			return false
		}
	}
	if i == len(args) {
		return false
	}
	fastFlags(cv.FieldByName("Run"), byName, func(f reflect.StructField) bool { _, arg := f.Tag.Lookup("arg"); return !arg })
	for i++; i < len(args); i++ {
		if !strings.HasPrefix(args[i], "-") {
			c.Run.Args = append([]string{}, args[i:]...)
			return true
		}
		if !setFastFlag(byName, args, &i) {
			return false
		}
	}
	return false // no image: kong says what is missing
}

// fastFlags adds the flags of struct v, going into embedded structs, to
// byName (by "--name" and "-s"), and sets each to its default.
func fastFlags(v reflect.Value, byName map[string]fastFlag, include func(reflect.StructField) bool) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() || !include(f) {
			continue
		}
		if _, embed := f.Tag.Lookup("embed"); embed || f.Anonymous {
			fastFlags(v.Field(i), byName, include)
			continue
		}
		name := f.Tag.Get("name")
		if name == "" {
			name = strings.ToLower(f.Name) // kong's kebab case of one word; longer names have tags
		}
		flag := fastFlag{value: v.Field(i)}
		if enum, ok := f.Tag.Lookup("enum"); ok {
			flag.enum = strings.Split(enum, ",")
		}
		if def, ok := f.Tag.Lookup("default"); ok && f.Type.Kind() == reflect.String {
			flag.value.SetString(def)
		}
		byName["--"+name] = flag
		if short := f.Tag.Get("short"); short != "" {
			byName["-"+short] = flag
		}
	}
}

// setFastFlag reads the flag at args[*i] (and its value, moving *i on to
// it), and tells whether it could.
func setFastFlag(byName map[string]fastFlag, args []string, i *int) bool {
	a := args[*i]
	if len(a) > 2 && a[0] == '-' && a[1] != '-' && !strings.Contains(a, "=") {
		// A cluster of one-letter switches, like -it.
		for _, s := range a[1:] {
			f, ok := byName["-"+string(s)]
			if !ok || f.value.Kind() != reflect.Bool {
				return false
			}
			f.value.SetBool(true)
		}
		return true
	}
	name, value, inline := strings.Cut(a, "=")
	f, ok := byName[name]
	if !ok || inline && !strings.HasPrefix(name, "--") {
		return false
	}
	if f.value.Kind() == reflect.Bool {
		if inline {
			return false
		}
		f.value.SetBool(true)
		return true
	}
	if !inline {
		if *i+1 == len(args) {
			return false
		}
		*i++
		value = args[*i]
	}
	if strings.HasPrefix(value, "-") || f.enum != nil && !slices.Contains(f.enum, value) {
		return false
	}
	switch v := f.value.Addr().Interface().(type) {
	case *string:
		*v = value
	case *sizeFlag:
		*v = sizeFlag(value)
	case *[]string:
		*v = append(*v, value)
	case *intFlag:
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return false
		}
		v.n, v.set = n, true
	default: // --entrypoint's *string, which kong tells from "" unset
		return false
	}
	return true
}
