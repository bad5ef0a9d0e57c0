package ffgo
import (
 _ "github.com/valkey-io/valkey-go"
 _ "github.com/dave/jennifer/jen"
 _ "github.com/yuin/gopher-lua"
 _ "github.com/alicebob/miniredis/v2"
 _ "github.com/google/go-cmp/cmp"
 _ "github.com/google/uuid"
)

