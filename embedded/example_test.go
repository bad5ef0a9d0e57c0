package embedded_test

import (
	"context"
	"fmt"
	"time"

	"github.com/flowfabric/ffgo/embedded"
	"github.com/valkey-io/valkey-go"
)

func Example() {
	s, err := embedded.New(embedded.WithTime(time.Unix(1700000000, 0)))
	if err != nil {
		panic(err)
	}
	defer s.Close()
	client, err := valkey.NewClient(s.ClientOption())
	if err != nil {
		panic(err)
	}
	defer client.Close()
	ctx := context.Background()

	lib := `#!lua name=demo
redis.register_function('lease', function(keys, args)
  if redis.call('SET', keys[1], args[1], 'NX', 'PX', args[2]) then
    return 'acquired by ' .. args[1]
  end
  return 'held by ' .. redis.call('GET', keys[1])
end)`
	if err := client.Do(ctx, client.B().FunctionLoad().FunctionCode(lib).Build()).Error(); err != nil {
		panic(err)
	}
	lease := func(owner string) string {
		r, err := client.Do(ctx, client.B().Fcall().Function("lease").Numkeys(1).Key("lock").Arg(owner, "30000").Build()).ToString()
		if err != nil {
			panic(err)
		}
		return r
	}
	fmt.Println(lease("a"))
	fmt.Println(lease("b"))
	s.FastForward(31 * time.Second) // the lease expires; no sleeping
	fmt.Println(lease("b"))
	// Output:
	// acquired by a
	// held by a
	// acquired by b
}
