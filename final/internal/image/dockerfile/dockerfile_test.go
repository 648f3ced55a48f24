package dockerfile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	text := `# syntax=docker/dockerfile:1 is only a comment here
from scratch
ADD rootfs.tar.gz /
COPY hello.txt b.txt /etc/
COPY ["with space.txt", "/opt/"]
ENV A=1 B="two words" C=it\'s \
    D='single $quoted'

ENV OLD style value
WORKDIR /srv
CMD echo "$A"
RUN ["/bin/echo", "exec", "form"]
`
	got, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []Instruction{
		{Line: 2, Command: "FROM", Args: []string{"scratch"}, Text: "FROM scratch"},
		{Line: 3, Command: "ADD", Args: []string{"rootfs.tar.gz", "/"}, Text: "ADD rootfs.tar.gz /"},
		{Line: 4, Command: "COPY", Args: []string{"hello.txt", "b.txt", "/etc/"}, Text: "COPY hello.txt b.txt /etc/"},
		{Line: 5, Command: "COPY", Args: []string{"with space.txt", "/opt/"}, Text: `COPY ["with space.txt", "/opt/"]`},
		{Line: 6, Command: "ENV", Args: []string{"A=1", "B=two words", "C=it's", "D=single $quoted"}, Text: `ENV A=1 B="two words" C=it\'s D='single $quoted'`},
		{Line: 9, Command: "ENV", Args: []string{"OLD=style value"}, Text: "ENV OLD style value"},
		{Line: 10, Command: "WORKDIR", Args: []string{"/srv"}, Text: "WORKDIR /srv"},
		{Line: 11, Command: "CMD", Args: []string{"/bin/sh", "-c", `echo "$A"`}, Text: `CMD echo "$A"`},
		{Line: 12, Command: "RUN", Args: []string{"/bin/echo", "exec", "form"}, Text: `RUN ["/bin/echo", "exec", "form"]`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct{ name, text, wantErr string }{
		{"empty", "\n# only a comment\n", "has no instructions"},
		{"not FROM first", "COPY a /\n", "line 1: the first instruction must be FROM"},
		{"unknown", "FROM scratch\nBOGUS x\n", `line 2: unknown instruction "BOGUS"`},
		{"unsupported", "FROM scratch\nEXPOSE 80\n", "line 2: EXPOSE is not supported"},
		{"stage name", "FROM scratch AS base\n", "stages are not supported"},
		{"second FROM", "FROM scratch\nFROM scratch\n", "line 2: a second FROM"},
		{"no arguments", "FROM scratch\nWORKDIR\n", "line 2: WORKDIR needs arguments"},
		{"one COPY argument", "FROM scratch\nCOPY a\n", "give a source and a destination"},
		{"COPY option", "FROM scratch\nCOPY --chown=1:1 a /\n", "the option --chown=1:1 is not supported"},
		{"bad JSON", "FROM scratch\nRUN [\"a\",\n", "not a JSON array"},
		{"empty exec form", "FROM scratch\nCMD []\n", "the command is empty"},
		{"ENV pair", "FROM scratch\nENV A=1 =2\n", `ENV "=2" is not KEY=VALUE`},
		{"ENV quote", "FROM scratch\nENV A=\"open\n", "unterminated \" quote"},
		{"two workdirs", "FROM scratch\nWORKDIR /a /b\n", "WORKDIR takes one directory"},
		{"dangling backslash", "FROM scratch\nRUN a \\\n", "line 2: the last line ends with a backslash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse error = %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}
