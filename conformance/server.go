package conformance

import (
	"context"

	"github.com/flowfabric/ffgo/internal/valkeyserver"
	"github.com/valkey-io/valkey-go"
)

// ValkeyServer is a private valkey-server process on a free loopback port, memory only.
// The differential mode and the mutant tests use one: they flush it between sequences
// and load deliberately broken libraries, which the shared servers must never see.
type ValkeyServer struct {
	*valkeyserver.Server
}

// ErrNoValkeyServer is returned when no valkey-server binary is on PATH.
var ErrNoValkeyServer = valkeyserver.ErrNotFound

// StartValkeyServer starts valkey-server on a free port and waits until it answers.
// Close stops it.
func StartValkeyServer(ctx context.Context) (*ValkeyServer, error) {
	s, err := valkeyserver.Start(ctx, "")
	if err != nil {
		return nil, err
	}
	return &ValkeyServer{Server: s}, nil
}

// Client returns a single-connection valkey-go client of the server.
func (s *ValkeyServer) Client() (valkey.Client, error) {
	return valkey.NewClient(valkey.ClientOption{InitAddress: []string{s.Addr}, DisableCache: true, ForceSingleClient: true})
}
