package gen_test

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowfabric/ffgo/gen"
	"github.com/flowfabric/ffgo/gen/diag"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden generates each case in testdata/cases and compares the package with its
// want/ folder and the warnings with warnings.txt. The "foreign" case is read the lenient
// way; every other case in strict mode, as lua/ is.
func TestGolden(t *testing.T) {
	cases, err := os.ReadDir("testdata/cases")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		name := c.Name()
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata/cases", name)
			res, err := gen.Run(gen.Config{
				LuaDir:     filepath.Join(dir, "lua"),
				DisplayDir: "lua",
				Package:    name,
				Strict:     name != "foreign",
			})
			if err != nil {
				t.Fatalf("gen.Run: %v", err)
			}
			var warnings strings.Builder
			for _, d := range res.Diagnostics {
				warnings.WriteString(d.String() + "\n")
			}
			got := map[string]string{"../warnings.txt": warnings.String()}
			for n, data := range res.Files {
				got[n] = string(data)
			}
			want := filepath.Join(dir, "want")
			if *update {
				os.RemoveAll(want)
				if err := os.MkdirAll(want, 0o755); err != nil {
					t.Fatal(err)
				}
				for n, data := range got {
					if err := os.WriteFile(filepath.Join(want, n), []byte(data), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			wantFiles := readDir(t, want)
			w, err := os.ReadFile(filepath.Join(dir, "warnings.txt"))
			if err != nil {
				t.Fatal(err)
			}
			wantFiles["../warnings.txt"] = string(w)
			if diff := cmp.Diff(wantFiles, got); diff != "" {
				t.Errorf("generated files differ from %s (-want +got); run go test ./gen -update to accept:\n%s", want, diff)
			}
		})
	}
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(data)
	}
	return out
}

// TestGoldensCompile builds the golden packages, which live in their own module under
// testdata so that the main module's ./... does not see them.
func TestGoldensCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module; skipped with -short")
	}
	cmd := exec.Command("go", "build", "./...")
	cmd.Dir = "testdata"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in gen/testdata: %v\n%s", err, out)
	}
}

// TestErrors runs every testdata/errors/<name>.lua beside a valid version.lua and compares
// the diagnostics with <name>.golden. Cases named strict_* run in strict mode.
func TestErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.lua")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no error cases")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".lua")
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			must(t, os.WriteFile(filepath.Join(dir, name+".lua"), src, 0o644))
			must(t, os.WriteFile(filepath.Join(dir, "version.lua"), []byte(versionLua), 0o644))
			_, err = gen.Run(gen.Config{LuaDir: dir, DisplayDir: "lua", Strict: strings.HasPrefix(name, "strict_")})
			var le *diag.ListError
			got := ""
			if err != nil {
				if !errors.As(err, &le) {
					t.Fatalf("want a diagnostics list, got %v", err)
				}
				got = le.Error() + "\n"
			}
			golden := strings.TrimSuffix(f, ".lua") + ".golden"
			if *update {
				must(t, os.WriteFile(golden, []byte(got), 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got == "" {
				t.Fatalf("%s generated without errors; want:\n%s", f, want)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("diagnostics differ (-want +got):\n%s", diff)
			}
		})
	}
}

const versionLua = `-- ff_version
-- @reply string
-- @flags no-writes
redis.register_function{function_name = 'ff_version', callback = function() return 't.1' end, flags = {'no-writes'}}
`

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
