package gen_test

import (
	"testing"

	"github.com/flowfabric/ffgo/gen/diag"
	"github.com/flowfabric/ffgo/gen/model"
	"github.com/flowfabric/ffgo/gen/parse"
)

// FuzzHeader feeds arbitrary header text above a registration through the parser and the
// model: whatever the text, they must report diagnostics, never panic.
func FuzzHeader(f *testing.F) {
	for _, seed := range []string{
		"-- KEYS (4): a, b, c, d\n-- ARGV (2 or 3): x, y, [z]\n-- @reply ok(a:int, b?) | duplicate(a)\n",
		"-- ARGV (>=2, even): k1, v1, k2, v2, ...\n",
		"-- KEYS (4+N): a, b, c, d, [e, f, g, edge_0..N]\n-- ARGV (2+N): x, y, [id_0..N]\n",
		"-- KEYS (18 + 3*N_extra): a\n--   then for each extra: p, q, r\n",
		"-- ARGV (variable): count, dim_1..dim_N, hard_1..hard_N, ...\n",
		"-- ARGV (18): same as ff_other (17 + waitpoint_token)\n",
		"-- ARGV (1+2*N): ns, tag(name, value:int)...\n-- @errors a, b\n-- @flags no-writes\n",
		"-- ARGV (2): now_ms (IGNORED — server time used), source  — RFC: prose, more\n",
		"-- @reply ok(a...) | x(\n-- KEYS (",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		src := header + "\nredis.register_function('ff_fuzz', function(keys, args) return keys[3] end)\n" +
			"-- ff_other\n-- ARGV (1): a\nredis.register_function('ff_other', function(keys, args) return 1 end)\n"
		var diags diag.List
		file := parse.ParseFile("lua/fuzz.lua", []byte(src), &diags)
		lib := model.Build([]*parse.File{file}, model.Options{Library: "fuzz", Prefix: "ff_"}, &diags)
		if lib == nil {
			t.Fatal("Build returned nil")
		}
		for _, d := range diags.Items() {
			if d.Pos.File != "lua/fuzz.lua" || d.Pos.Line < 1 {
				t.Fatalf("diagnostic without a position in the file: %v", d)
			}
		}
	})
}
