// Package gen is the ffgen generator as a library: it reads an annotated Valkey function
// library from a folder of Lua files and returns the generated Go package as file contents.
// It never writes files; cmd/ffgen does that, or compares them with the files on disk.
//
// The pipeline is parse (Lua and header comments) → model (plain data, Go names, checks) →
// emit (jennifer).
package gen

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flowfabric/ffgo/gen/diag"
	"github.com/flowfabric/ffgo/gen/emit"
	"github.com/flowfabric/ffgo/gen/model"
	"github.com/flowfabric/ffgo/gen/parse"
)

// Config says what to read and how to name the output.
type Config struct {
	LuaDir string // folder of the library's .lua files
	// DisplayDir is how LuaDir is written in diagnostics and generated comments
	// (default: LuaDir, slash-separated).
	DisplayDir      string
	Package         string // Go package name (default ffscripts)
	Library         string // library name for the shebang (default flowfabric)
	Prefix          string // stripped from Lua names for Go names (default ff_)
	VersionFunction string // function returning the version literal (default ff_version)
	Strict          bool   // warnings are errors
}

// LibraryFile is the name of the flattened library among the output files.
const LibraryFile = "library.lua"

// FirstFile is flattened before every other file.
const FirstFile = "helpers.lua"

func (c *Config) defaults() {
	if c.Package == "" {
		c.Package = "ffscripts"
	}
	if c.Library == "" {
		c.Library = "flowfabric"
	}
	if c.Prefix == "" {
		c.Prefix = "ff_"
	}
	if c.VersionFunction == "" {
		c.VersionFunction = "ff_version"
	}
	if c.DisplayDir == "" {
		c.DisplayDir = filepath.ToSlash(filepath.Clean(c.LuaDir))
	}
}

// Result is a generated package.
type Result struct {
	Files       map[string][]byte // file name in the output folder → contents
	Model       *model.Library
	Diagnostics []diag.Diagnostic // warnings (and errors, when Run fails on them)
}

// Run generates the package. When the library has errors (or warnings, in strict mode) it
// returns a *diag.ListError listing all of them, sorted by position.
func Run(cfg Config) (*Result, error) {
	cfg.defaults()
	sources, err := ReadSources(cfg.LuaDir)
	if err != nil {
		return nil, err
	}
	var diags diag.List
	var files []*parse.File
	for _, s := range sources {
		files = append(files, parse.ParseFile(path.Join(cfg.DisplayDir, s.Name), s.Data, &diags))
	}
	lib := model.Build(files, model.Options{Library: cfg.Library, Prefix: cfg.Prefix, VersionFunction: cfg.VersionFunction}, &diags)
	if cfg.Strict {
		diags.Strict()
	}
	res := &Result{Model: lib, Diagnostics: diags.Items()}
	if err := diags.Err(); err != nil {
		return res, err
	}
	out, err := emit.Files(lib, emit.Options{Package: cfg.Package, LibraryFile: LibraryFile})
	if err != nil {
		return res, err
	}
	out[LibraryFile] = Flatten(cfg.Library, cfg.DisplayDir, sources)
	res.Files = out
	return res, nil
}

// Source is one Lua file of the library.
type Source struct {
	Name string // file name, e.g. lease.lua
	Data []byte
}

// ReadSources reads the .lua files of dir in flattening order: helpers.lua first, then the
// others in byte-wise order of their names.
func ReadSources(dir string) ([]Source, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the Lua folder: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".lua") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no .lua files", dir)
	}
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == FirstFile:
			return -1
		case b == FirstFile:
			return 1
		}
		return strings.Compare(a, b)
	})
	out := make([]Source, 0, len(names))
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		out = append(out, Source{Name: n, Data: data})
	}
	return out, nil
}

// Flatten joins the sources into the one source FUNCTION LOAD takes.
func Flatten(library, displayDir string, sources []Source) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "#!lua name=%s\n", library)
	fmt.Fprintf(&b, "-- %s\n", emit.Header)
	for _, s := range sources {
		fmt.Fprintf(&b, "\n-- file: %s\n", path.Join(displayDir, s.Name))
		b.Write(s.Data)
		if len(s.Data) > 0 && s.Data[len(s.Data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// IsGenerated reports whether a file's contents carry ffgen's header, so that ffgen may
// overwrite or remove it.
func IsGenerated(data []byte) bool {
	head := data[:min(len(data), 200)]
	return bytes.Contains(head, []byte(emit.Header))
}
