// Package plainjsontest helps test a hand-written JSON reader against
// encoding/json: Fill sets every field of a value, so that a field added
// to a type and not read by hand fails the comparison.
package plainjsontest

import (
	"fmt"
	"reflect"
	"testing"
)

// Fill gives every field reachable from v a value that is not its zero,
// by reflection. Strings carry what an encoder escapes. Interfaces (a
// map[string]any that a reader leaves to encoding/json) stay nil.
func Fill(t testing.TB, v reflect.Value) {
	t.Helper()
	n := 0
	fill(t, v, "v", &n)
}

func fill(t testing.TB, v reflect.Value, path string, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d \"q\" \\ <&> é\u2028\t\n\x01 日本", path, *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(1000 + *n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(100 + *n))
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fill(t, s.Index(i), fmt.Sprintf("%s[%d]", path, i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := 0; i < 2; i++ {
			k := reflect.New(v.Type().Key()).Elem()
			fill(t, k, path+".key", n)
			e := reflect.New(v.Type().Elem()).Elem()
			fill(t, e, path+".value", n)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), path, n)
		v.Set(p)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(t, v.Field(i), path+"."+v.Type().Field(i).Name, n)
			}
		}
	case reflect.Interface:
	default:
		t.Fatalf("%s: Fill does not know %s; teach it, and the reader", path, v.Kind())
	}
}
