module github.com/flowfabric/ffgo

go 1.26

require (
	github.com/alicebob/miniredis/v2 v2.40.0
	github.com/dave/jennifer v1.7.1
	github.com/google/go-cmp v0.7.0
	github.com/google/uuid v1.6.0
	github.com/valkey-io/valkey-go v1.0.79
	github.com/yuin/gopher-lua v1.1.2
)

require golang.org/x/sys v0.47.0 // indirect
