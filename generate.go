// Package ffgo is the Go toolkit for FlowFabric's Valkey function library.
//
// The library's Lua lives in lua/; `go generate ./...` turns it into the typed package
// ffscripts with cmd/ffgen.
package ffgo

//go:generate go run ./cmd/ffgen -lua lua -out ffscripts -strict
