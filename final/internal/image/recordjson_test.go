package image

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"box/final/internal/plainjson/plainjsontest"

	"github.com/google/go-cmp/cmp"
)

// TestDecodeImageLikeUnmarshal: the records the store writes are read by
// hand, as json.Unmarshal reads them, and what is not plain (a name in
// other letter case, a fraction, a bad time) goes to json.Unmarshal.
func TestDecodeImageLikeUnmarshal(t *testing.T) {
	var full Image
	plainjsontest.Fill(t, reflect.ValueOf(&full).Elem())
	full.Created = time.Date(2026, 12, 4, 12, 23, 42, 946849423, time.UTC)
	inputs := map[string][]byte{
		"other case":   []byte(`{"name":"a","config":{"env":["A=1"]}}`),
		"fraction":     []byte(`{"name":"a","layers":[{"digest":"d","size":1.5}]}`),
		"bad time":     []byte(`{"name":"a","created":"today"}`),
		"nulls":        []byte(`{"name":null,"layers":null,"history":null,"created":null,"config":null}`),
		"unknown name": []byte(`{"name":"a","rootfs":{"type":"layers"}}`),
	}
	plain := map[string]bool{"nulls": true, "unknown name": true}
	for name, img := range map[string]Image{"every field": full, "empty": {}} {
		b, err := json.MarshalIndent(img, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		inputs[name], plain[name] = b, true
	}
	for name, b := range inputs {
		t.Run(name, func(t *testing.T) {
			var fast Image
			if err := readImage(b, &fast); (err == nil) != plain[name] {
				t.Errorf("readImage: error %v, want it read: %v", err, plain[name])
			}
			var want, got Image
			wantErr := json.Unmarshal(b, &want)
			err := decodeImage(b, &got)
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("decodeImage: error %v, json.Unmarshal's %v", err, wantErr)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-json.Unmarshal +decodeImage):\n%s", diff)
			}
		})
	}
}
