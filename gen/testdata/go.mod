module github.com/flowfabric/ffgo/gen/testdata

go 1.26

require (
	github.com/flowfabric/ffgo v0.0.0
	github.com/valkey-io/valkey-go v1.0.79
)

require golang.org/x/sys v0.47.0 // indirect

replace github.com/flowfabric/ffgo => ../..
