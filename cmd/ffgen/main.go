// Command ffgen generates the typed Go package for an annotated Valkey function library.
//
//	ffgen -lua lua -out ffscripts            write the package
//	ffgen -lua lua -out ffscripts -verify    exit 1 with a diff when the files are stale
//	ffgen -lua lua -dump-model               print the model as JSON
package main

import (
	"os"

	"github.com/flowfabric/ffgo/cmd/ffgen/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
