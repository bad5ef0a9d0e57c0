package fcall

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/valkey-io/valkey-go"
)

// Library is a function library as the generated package embeds it.
type Library struct {
	Name            string // the name in the shebang
	Version         string // what VersionFunction returns
	VersionFunction string // e.g. ff_version
	Source          string // the flattened source, shebang included
}

// Load makes sure every primary reachable through c runs this library version: where the
// version function is missing or answers another version it runs FUNCTION LOAD REPLACE.
// On a cluster every node is visited; replicas, which answer READONLY, are skipped since
// they receive the library from their primary. Load is a no-op when all nodes are current.
func Load(ctx context.Context, c valkey.Client, lib Library) error {
	nodes := c.Nodes()
	addrs := make([]string, 0, len(nodes))
	for addr := range nodes {
		addrs = append(addrs, addr)
	}
	slices.Sort(addrs)
	var errs []error
	for _, addr := range addrs {
		if err := loadNode(ctx, nodes[addr], lib); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		}
	}
	return errors.Join(errs...)
}

func loadNode(ctx context.Context, n valkey.Client, lib Library) error {
	current, err := n.Do(ctx, n.B().FcallRo().Function(lib.VersionFunction).Numkeys(0).Build()).ToString()
	if err == nil && current == lib.Version {
		// Same version: still replace a library whose code differs (a forgotten version
		// bump, or a build in development). When the code cannot be read, trust the version.
		if same, err := sameCode(ctx, n, lib); err != nil || same {
			return nil
		}
	}
	if err != nil && !IsFunctionNotFound(err) {
		// A foreign ff_version may lack no-writes; ask again the write way before deciding.
		if v, err2 := n.Do(ctx, n.B().Fcall().Function(lib.VersionFunction).Numkeys(0).Build()).ToString(); err2 == nil && v == lib.Version {
			if same, err := sameCode(ctx, n, lib); err != nil || same {
				return nil
			}
		} else if err2 != nil && isReadOnly(err2) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	err = n.Do(ctx, n.B().FunctionLoad().Replace().FunctionCode(lib.Source).Build()).Error()
	if err != nil && isReadOnly(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("FUNCTION LOAD REPLACE %s %s: %w", lib.Name, lib.Version, err)
	}
	return nil
}

// sameCode reports whether the node's copy of the library has exactly lib.Source.
func sameCode(ctx context.Context, n valkey.Client, lib Library) (bool, error) {
	libs, err := n.Do(ctx, n.B().FunctionList().Libraryname(lib.Name).Withcode().Build()).ToArray()
	if err != nil {
		return false, err
	}
	for _, l := range libs {
		m, err := l.AsMap()
		if err != nil {
			return false, err
		}
		nameMsg, codeMsg := m["library_name"], m["library_code"]
		if name, _ := nameMsg.ToString(); name != lib.Name {
			continue
		}
		code, err := codeMsg.ToString()
		if err != nil {
			return false, err
		}
		return code == lib.Source, nil
	}
	return false, nil
}

// IsFunctionNotFound reports whether err is the server's answer to an FCALL of a function
// that is not loaded on the node that served it. valkey-go's IsNoScript does not match it.
func IsFunctionNotFound(err error) bool {
	var ve *valkey.ValkeyError
	if !errors.As(err, &ve) {
		return false
	}
	msg := strings.ToLower(ve.Error())
	return strings.Contains(msg, "function not found") || strings.Contains(msg, "no matching function")
}

func isReadOnly(err error) bool {
	var ve *valkey.ValkeyError
	return errors.As(err, &ve) && strings.HasPrefix(ve.Error(), "READONLY")
}
