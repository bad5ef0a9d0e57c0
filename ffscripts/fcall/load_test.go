package fcall_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowfabric/ffgo/ffscripts/fcall"
	"github.com/flowfabric/ffgo/internal/valkeytest"
	"github.com/valkey-io/valkey-go"
)

// testLibrary is a library of its own, so this test never disturbs the flowfabric library
// that other tests share.
func testLibrary(version, extra string) fcall.Library {
	return fcall.Library{
		Name:            "ffgo_loadtest",
		Version:         version,
		VersionFunction: "ffgo_loadtest_version",
		Source: fmt.Sprintf("#!lua name=ffgo_loadtest\n-- %s\nredis.register_function{function_name='ffgo_loadtest_version', callback=function() return '%s' end, flags={'no-writes'}}\n",
			extra, version),
	}
}

// TestLoad checks when Load replaces a library: when it is missing, when the version
// differs, and when the version matches but the code does not; and that it leaves a
// current library alone.
func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client func(testing.TB) valkey.Client
		nodes  int
	}{
		{"standalone", valkeytest.Standalone, 1},
		{"cluster", valkeytest.Cluster, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			db := tc.client(t)
			deleteLib := func() {
				for _, n := range db.Nodes() {
					n.Do(ctx, n.B().FunctionDelete().LibraryName("ffgo_loadtest").Build())
				}
			}
			deleteLib()
			t.Cleanup(deleteLib)

			steps := []struct {
				name      string
				lib       fcall.Library
				wantLoads int
			}{
				{"missing", testLibrary("v1", "a"), tc.nodes},
				{"current", testLibrary("v1", "a"), 0},
				{"same version, other code", testLibrary("v1", "b"), tc.nodes},
				{"other version", testLibrary("v2", "b"), tc.nodes},
				{"current again", testLibrary("v2", "b"), 0},
			}
			for _, s := range steps {
				counting := valkeytest.Counting(db)
				if err := fcall.Load(ctx, counting, s.lib); err != nil {
					t.Fatalf("%s: Load: %v", s.name, err)
				}
				if got := counting.Count("FUNCTION LOAD"); got != s.wantLoads {
					t.Errorf("%s: %d FUNCTION LOAD sent, want %d", s.name, got, s.wantLoads)
				}
				for addr, n := range db.Nodes() {
					v, err := n.Do(ctx, n.B().FcallRo().Function(s.lib.VersionFunction).Numkeys(0).Build()).ToString()
					if err != nil || v != s.lib.Version {
						t.Errorf("%s: %s answers %q, %v; want %q", s.name, addr, v, err, s.lib.Version)
					}
				}
			}
		})
	}
}

// TestLoadBadSource reports the server's compile error and names the library.
func TestLoadBadSource(t *testing.T) {
	ctx := context.Background()
	db := valkeytest.Standalone(t)
	lib := testLibrary("bad", "x")
	lib.Source += "this is not lua\n"
	err := fcall.Load(ctx, db, lib)
	if err == nil || !strings.Contains(err.Error(), "ffgo_loadtest") || !strings.Contains(err.Error(), "Error compiling") {
		t.Fatalf("Load of a broken library = %v; want an error naming it and the compile error", err)
	}
}

func TestIsFunctionNotFound(t *testing.T) {
	ctx := context.Background()
	db := valkeytest.Standalone(t)
	err := db.Do(ctx, db.B().Fcall().Function("ffgo_no_such_function").Numkeys(0).Build()).Error()
	if !fcall.IsFunctionNotFound(err) {
		t.Fatalf("IsFunctionNotFound(%v) = false", err)
	}
	if fcall.IsFunctionNotFound(fmt.Errorf("other")) {
		t.Fatal("IsFunctionNotFound(other) = true")
	}
}
