package lifecycle

import (
	"encoding/json"
	"reflect"
	"testing"

	"box/final/internal/plainjson/plainjsontest"

	"github.com/google/go-cmp/cmp"
)

// filledInitConfig has every field set, config a JSON text with what an
// encoder escapes.
func filledInitConfig(t *testing.T) initConfig {
	var cfg initConfig
	plainjsontest.Fill(t, reflect.ValueOf(&cfg).Elem())
	cfg.Spec = nil // not sent
	cfg.Config = json.RawMessage("{\n  \"ociVersion\": \"1.2.0\",\n  \"annotations\": {\"a<b>&\": \"\\u2028 é\"},\n  \"n\": [1, -2, true, null]\n}")
	return cfg
}

// TestInitConfigRoundTrip: what encodeInitConfig writes, readInitConfig
// reads back whole, and json.Unmarshal reads the same from it.
func TestInitConfigRoundTrip(t *testing.T) {
	for name, cfg := range map[string]initConfig{
		"every field": filledInitConfig(t),
		"empty":       {Config: json.RawMessage(`{}`)},
		"one joined":  {Config: json.RawMessage(`{}`), Joined: filledInitConfig(t).Joined[:1], Pid: -1},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := encodeInitConfig(&cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got initConfig
			if err := readInitConfig(b, &got); err != nil {
				t.Fatalf("readInitConfig: %v\n%s", err, b)
			}
			if diff := cmp.Diff(cfg, got); diff != "" {
				t.Errorf("(-sent +read):\n%s", diff)
			}
			var want initConfig
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatalf("json.Unmarshal of the text: %v\n%s", err, b)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-json.Unmarshal +readInitConfig):\n%s", diff)
			}
		})
	}
}

// TestInitConfigFallsBack: what is not plain goes through encoding/json
// both ways, and decodeInitConfig reads encoding/json's text too.
func TestInitConfigFallsBack(t *testing.T) {
	cfg := filledInitConfig(t)
	cfg.Bundle = "not \xff UTF-8"
	b, err := encodeInitConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	marshaled, _ := json.Marshal(&cfg)
	if string(b) != string(marshaled) {
		t.Errorf("encodeInitConfig of a string that is not UTF-8 is not json.Marshal's:\n%s\n%s", b, marshaled)
	}
	for name, in := range map[string][]byte{
		"json.Marshal's, not UTF-8": marshaled,
		"json.Marshal's":            mustMarshal(t, filledInitConfig(t)),
		"config null":               []byte(`{"id":"a","config":null}`),
	} {
		t.Run(name, func(t *testing.T) {
			var want, got initConfig
			wantErr := json.Unmarshal(in, &want)
			err := decodeInitConfig(in, &got)
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("decodeInitConfig: error %v, json.Unmarshal's %v", err, wantErr)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-json.Unmarshal +decodeInitConfig):\n%s", diff)
			}
		})
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
