package embedded_test

import (
	"testing"
	"time"

	"github.com/flowfabric/ffgo/embedded"
	"github.com/valkey-io/valkey-go"
)

// FuzzLoadAndCall feeds arbitrary library bodies and arguments through the
// RESP path: any outcome is fine except a transport error, a panic or a
// server that stops answering.
func FuzzLoadAndCall(f *testing.F) {
	for _, seed := range []struct{ body, arg string }{
		{"redis.register_function('f', function(k, a) return redis.call('SET', k[1], a[1]) end)", "v"},
		{"redis.register_function('f', function(k, a) return cjson.decode(a[1]) end)", `{"a":[1,2,{"b":null}]}`},
		{"redis.register_function('f', function(k, a) return cjson.encode(cjson.decode(a[1])) end)", `[1,"x",true]`},
		{"redis.register_function('f', function(k, a) return bit.tohex(tonumber(a[1]) or 0, -5) end)", "255"},
		{"redis.register_function('f', function(k, a) return redis.pcall(a[1], k[1]) end)", "INCR"},
		{"redis.register_function{function_name='f', callback=function(k, a) return {err=a[1]} end, flags={'no-writes'}}", "x\r\ny"},
		{"local t = setmetatable({}, {__index = function(t, k) return k end}) redis.register_function('f', function(k, a) return t[a[1]] end)", "z"},
		{"redis.register_function('f', function(k, a) return string.rep(a[1], 3) end)", ""},
	} {
		f.Add(seed.body, seed.arg)
	}
	s, err := embedded.New(embedded.WithBusyLimit(200 * time.Millisecond))
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	c, err := valkey.NewClient(s.ClientOption())
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	f.Fuzz(func(t *testing.T, body, arg string) {
		for _, cmd := range [][]string{
			{"FUNCTION", "LOAD", "REPLACE", "#!lua name=fz\n" + body},
			{"FCALL", "f", "1", "fz:key", arg},
			{"FCALL_RO", "f", "1", "fz:key", arg},
			{"PING"},
		} {
			err := do(t, c, cmd...).Error()
			if _, isReply := valkey.IsValkeyErr(err); err != nil && !isReply && !valkey.IsValkeyNil(err) {
				t.Fatalf("%q: %v", cmd[:2], err)
			}
		}
	})
}
