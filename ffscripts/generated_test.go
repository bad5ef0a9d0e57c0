package ffscripts_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/flowfabric/ffgo/gen"
	"github.com/google/go-cmp/cmp"
)

// TestUpToDate fails when lua/ changed without `go generate ./...`: it regenerates the
// package in memory, as `ffgen -strict` does, and compares it with the files here.
func TestUpToDate(t *testing.T) {
	res, err := gen.Run(gen.Config{LuaDir: "../lua", DisplayDir: "lua", Package: "ffscripts", Strict: true})
	if err != nil {
		t.Fatalf("lua/ does not generate: %v", err)
	}
	for name, want := range res.Files {
		got, err := os.ReadFile(filepath.Join(".", name))
		if err != nil {
			t.Errorf("%s: %v (run go generate ./...)", name, err)
			continue
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("%s is stale; run go generate ./... (-generated +on disk):\n%s", name, diff)
		}
	}
}
