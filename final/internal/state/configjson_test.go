package state

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"box/final/internal/plainjson/plainjsontest"

	"github.com/google/go-cmp/cmp"
)

// containers are states to write and read both ways: every field set,
// none, and the empty values omitempty leaves out or keeps.
func containers(t *testing.T) map[string]Container {
	var full Container
	plainjsontest.Fill(t, reflect.ValueOf(&full).Elem())
	full.Created = time.Date(2026, 12, 4, 13, 10, 0, 123456000, time.UTC)
	full.Started = time.Date(2026, 12, 4, 13, 10, 1, 0, time.UTC)
	full.Finished = time.Date(2026, 12, 4, 13, 10, 2, 999999999, time.FixedZone("", 3600))
	running := Container{ID: "0123", Name: "box-1", Status: Running, Pid: 42, Created: full.Created,
		Config: Config{Rootfs: "/r", Command: []string{"sh"}, Env: []string{}, Namespaces: []string{"pid"}, Log: &LogOptions{}}}
	zero := 0
	exited := running
	exited.Status, exited.ExitCode, exited.Pid = Exited, &zero, 0
	notUTF8 := running
	notUTF8.Error = "bad \xff"
	return map[string]Container{"every field": full, "none": {}, "running": running, "exited 0": exited, "not UTF-8": notUTF8}
}

// TestEncodeContainerLikeMarshalIndent: state.json by hand is
// json.MarshalIndent's, byte for byte.
func TestEncodeContainerLikeMarshalIndent(t *testing.T) {
	for name, c := range containers(t) {
		t.Run(name, func(t *testing.T) {
			want, err := json.MarshalIndent(&c, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeContainer(&c)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("encodeContainer:\n%s\njson.MarshalIndent:\n%s", got, want)
			}
		})
	}
}

// TestDecodeContainerLikeUnmarshal: what encodeContainer writes is read
// by hand, as json.Unmarshal reads it; what it does not write (a
// fraction, a time that is not one) goes to json.Unmarshal.
func TestDecodeContainerLikeUnmarshal(t *testing.T) {
	inputs := map[string][]byte{
		"fraction":     []byte(`{"id":"a","pid":1.5}`),
		"bad time":     []byte(`{"id":"a","created":"yesterday"}`),
		"null times":   []byte(`{"id":"a","created":null,"exitCode":null}`),
		"unknown name": []byte(`{"id":"a","x":[1,{"y":null}]}`),
	}
	for name, c := range containers(t) {
		b, err := encodeContainer(&c)
		if err != nil {
			t.Fatal(err)
		}
		inputs[name] = b
		var again Container
		if name != "not UTF-8" {
			if err := readContainer(b, &again); err != nil {
				t.Errorf("%s: readContainer: %v", name, err)
			}
		}
	}
	for name, b := range inputs {
		t.Run(name, func(t *testing.T) {
			var want, got Container
			wantErr := json.Unmarshal(b, &want)
			err := decodeContainer(b, &got)
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("decodeContainer: error %v, json.Unmarshal's %v", err, wantErr)
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(Container{})); diff != "" {
				t.Errorf("(-json.Unmarshal +decodeContainer):\n%s", diff)
			}
		})
	}
}

// TestExitRecordLikeEncodingJSON: the exit record by hand is json.Marshal's,
// and reads back as json.Unmarshal reads it, fallbacks included.
func TestExitRecordLikeEncodingJSON(t *testing.T) {
	code, dropped := 137, int64(4096)
	finished := time.Date(2026, 12, 4, 13, 30, 0, 5, time.UTC)
	inputs := map[string][]byte{
		"null":     []byte(`null`),
		"fraction": []byte(`{"exitCode":1.5}`),
		"bad time": []byte(`{"finished":"soon"}`),
	}
	for name, rec := range map[string]exitRecord{"every field": {ExitCode: &code, Finished: finished, DroppedBytes: dropped},
		"none": {}, "exit 0": {ExitCode: new(int), Finished: finished}} {
		want, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeExitRecord(rec)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: encodeExitRecord = %s, %v; json.Marshal: %s", name, got, err, want)
		}
		inputs[name] = got
	}
	for name, b := range inputs {
		var want, got exitRecord
		wantErr := json.Unmarshal(b, &want)
		err := decodeExitRecord(b, &got)
		if (err == nil) != (wantErr == nil) {
			t.Errorf("%s: decodeExitRecord: error %v, json.Unmarshal's %v", name, err, wantErr)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-json.Unmarshal +decodeExitRecord):\n%s", name, diff)
		}
	}
}
