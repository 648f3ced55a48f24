package oci

import (
	"strings"
	"testing"
)

func TestParseRefusesInOneLine(t *testing.T) {
	for _, c := range []struct{ config, want string }{
		{`{"ociVersion": "1.0.2", nope}`, "line 1"},
		{`{"ociVersion": "2.0.0", "root": {"path": "r"}, "process": {"args": ["sh"]}}`, `ociVersion "2.0.0" is not supported`},
		{`{"root": {"path": "r"}, "process": {"args": ["sh"]}}`, "ociVersion is missing"},
		{`{"ociVersion": "1.0.0", "process": {"args": ["sh"]}}`, "no root.path"},
		{`{"ociVersion": "1.0.0", "root": {"path": "r"}, "process": {"args": "sh"}}`, "field process.args must be an array, not a JSON string"},
		{`{"ociVersion": "1.0.0", "root": {"path": "r"}, "process": {"args": ["sh"], "user": {"uid": "root"}}}`, "process.user.uid must be a number"},
		{`{"ociVersion": "1.0.0", "root": {"path": "r"}, "process": {"args": []}}`, "process.args is empty"},
		{`{"ociVersion": "1.0.0", "root": {"path": "r"}, "process": {"args": ["sh"], "cwd": "tmp"}}`, "must be an absolute path"},
		{`{"ociVersion": "1.0.0", "root": {"path": "r"}, "process": {"args": ["sh"]}, "linux": {"namespaces": [{"type": "bogus"}]}}`, `unknown namespace type "bogus"`},
		{`{"ociVersion": "1.0.0", "root": {"path": "r"}, "process": {"args": ["sh"]}, "mounts": [{"destination": "data"}]}`, "must be absolute"},
	} {
		_, err := Parse("config.json", []byte(c.config))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line with %q", c.config, err, c.want)
		}
	}
}

func TestParseAcceptsVersions(t *testing.T) {
	for _, v := range []string{"1.0.0", "1.0.2-dev", "1.1.0", "1.2.1"} {
		s, err := Parse("config.json", []byte(`{"ociVersion": "`+v+`", "root": {"path": "r"}, "process": {"args": ["sh"]}, "future": {"field": 1}}`))
		if err != nil {
			t.Errorf("%s: %v", v, err)
			continue
		}
		if s.Process.Cwd != "/" || s.Linux == nil {
			t.Errorf("%s: cwd %q, linux %v: want the defaults filled in", v, s.Process.Cwd, s.Linux)
		}
	}
}

func TestCheckID(t *testing.T) {
	for id, ok := range map[string]bool{"abc": true, "a.b-c_d+1": true, "a/b": false, "..": false, "": false, "a b": false} {
		if err := CheckID(id); (err == nil) != ok {
			t.Errorf("CheckID(%q) = %v, want ok %v", id, err, ok)
		}
	}
}

// The spec lets create accept a config without a process: only start
// fails then.
func TestParseAcceptsNoProcess(t *testing.T) {
	s, err := Parse("config.json", []byte(`{"ociVersion": "1.0.2", "root": {"path": "r"}}`))
	if err != nil || s.Process != nil {
		t.Fatalf("Parse without process: %v, process %v: want it accepted, process nil", err, s)
	}
}
