package embedded

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// diffCase is one differential check. A body case registers
// function(keys, args) <body> end as {f} in library {lib} and calls it; a src
// case loads src (a whole library) and runs cmds. {lib}, {lib2}, {f}, {f2}
// and {k} are replaced with names unique to the run.
type diffCase struct {
	name  string
	body  string
	flags string // register with the table form and these flags, e.g. "'no-writes'"
	keys  []string
	args  []string
	ro    bool       // call with FCALL_RO
	setup [][]string // commands before the call
	src   string
	cmds  [][]string
	// known names the KNOWN_DIFFERENCES.md entry when the engines differ on
	// purpose; raw is then the embedded engine's pinned RESP2 reply to the
	// last command.
	known string
	raw   string
}

var diffCases = []diffCase{
	// Lua -> RESP conversions.
	{name: "int", body: "return 42"},
	{name: "float truncates", body: "return 1.9"},
	{name: "negative float truncates", body: "return -1.9"},
	{name: "string", body: "return 'hello'"},
	{name: "true is 1", body: "return true"},
	{name: "false is nil", body: "return false"},
	{name: "nil", body: "return nil"},
	{name: "no return", body: "local x = 1"},
	{name: "array stops at nil", body: "return {1, 2.9, 'x', false, true, nil, 7}"},
	{name: "ok table is status", body: "return {ok='FINE'}"},
	{name: "err table is error", body: "return {err='plain text'}"},
	{name: "err table with code", body: "return {err='MYCODE boom'}"},
	{name: "status_reply", body: "return redis.status_reply('ALLGOOD')"},
	{name: "error_reply without code", body: "return redis.error_reply('bad')"},
	{name: "error_reply with code", body: "return redis.error_reply('MYCODE bad thing')"},
	{name: "error_reply with dash", body: "return redis.error_reply('-X y')"},
	{name: "hash part dropped", body: "return {a=1, b=2}"},
	{name: "nested arrays", body: "return {{1, 2}, {3, {4, 'x'}}, {}}"},
	{name: "error inside array", body: "return {1, {err='inner'}, 3}"},
	{name: "status inside array", body: "return {1, {ok='fine'}}"},
	{name: "2^53", body: "return 2^53"},
	{name: "huge number", body: "return 1e300"},
	{name: "double table", body: "return {double=3.5}"},
	{name: "cjson.null returned", body: "return cjson.null"},
	{name: "function returned", body: "return function() end"},
	{name: "multiple returns keep first", body: "return 1, 2, 3"},
	{name: "keys and args", keys: []string{"{k}a", "{k}b"}, args: []string{"x", "", "z"}, body: "return {#keys, #args, keys[1], keys[2], args[1], args[2], args[3]}"},

	// RESP -> Lua inside redis.call.
	{name: "status to ok table", keys: []string{"{k}"}, body: "local r = redis.call('set', keys[1], 'v') return {type(r), r.ok}"},
	{name: "nil bulk to false", keys: []string{"{k}"}, body: "local r = redis.call('get', keys[1]) return {type(r), tostring(r)}"},
	{name: "integer to number", keys: []string{"{k}"}, body: "local r = redis.call('incr', keys[1]) return {type(r), r}"},
	{name: "array to table", keys: []string{"{k}"}, body: "redis.call('rpush', keys[1], 'a', 'b', 'c') local r = redis.call('lrange', keys[1], 0, -1) return {type(r), #r, r[1], r[3]}"},
	{name: "zrange withscores", keys: []string{"{k}"}, body: "redis.call('zadd', keys[1], 1.5, 'a', 2, 'b') return redis.call('zrange', keys[1], 0, -1, 'withscores')"},
	{name: "hash round trip", keys: []string{"{k}"}, body: "redis.call('hset', keys[1], 'f', 'v', 'g', 7) return {redis.call('hget', keys[1], 'f'), redis.call('hget', keys[1], 'g'), redis.call('hlen', keys[1]), redis.call('hexists', keys[1], 'nope')}"},
	{name: "ping status", body: "local r = redis.call('ping') return {type(r), r.ok}"},
	{name: "pcall error table", keys: []string{"{k}"}, body: "redis.call('set', keys[1], 'abc') local r = redis.pcall('incr', keys[1]) return {type(r), r.err}"},
	{name: "pcall error returned", keys: []string{"{k}"}, body: "redis.call('set', keys[1], 'abc') return redis.pcall('incr', keys[1])"},
	{name: "lua pcall of redis.call", keys: []string{"{k}"}, body: "redis.call('set', keys[1], 'abc') local ok, e = pcall(redis.call, 'incr', keys[1]) return {tostring(ok), type(e), e}"},
	{name: "call error raised", keys: []string{"{k}"}, body: "redis.call('set', keys[1], 'abc')\nreturn redis.call('incr', keys[1])"},
	{name: "writes before error stay", keys: []string{"{k}"}, setup: [][]string{{"DEL", "{k}"}}, body: "redis.call('set', keys[1], 'kept')\nerror('after write')", cmds: [][]string{{"GET", "{k}"}}},
	{name: "unknown command", body: "return redis.call('nosuchcmd', 'x')"},
	{name: "pcall unknown command", body: "return redis.pcall('nosuchcmd', 'x')"},
	{name: "table argument", body: "return redis.call('set', 'x', {})"},
	{name: "boolean argument", body: "return redis.call('set', 'x', true)"},
	{name: "no arguments", body: "return redis.call()"},
	{name: "wrong arity", body: "return redis.call('get', 'a', 'b')"},
	{name: "fcall from script", body: "return redis.call('fcall', 'x', 0)"},
	{name: "number arguments formatted", keys: []string{"{k}"}, body: "local out = {} for i, n in ipairs({0.1, 0.1+0.2, 1e14, 1e15, 1e20, 1/3, 2^53, 2^63, 123456789012345678, -7.25e-5, 100, -0.0}) do redis.call('set', keys[1], n) out[i] = redis.call('get', keys[1]) end return out"},
	{name: "integer float argument", keys: []string{"{k}"}, body: "redis.call('hset', keys[1], 'n', 3) return redis.call('hincrby', keys[1], 'n', 2)"},

	// Runtime errors.
	{name: "error string", body: "\nerror('boom')"},
	{name: "error table", body: "error({err='MYCODE boom'})"},
	{name: "error table level 0", body: "error({err='x'}, 0)"},
	{name: "error nil", body: "error()"},
	{name: "error number", body: "error(42)"},
	{name: "error level 0", body: "error('nopos', 0)"},
	{name: "error level 2", body: "local function inner() error('up', 2) end\ninner()"},
	{name: "index nil", body: "local x = nil\nreturn x.y", known: "vm-messages", raw: "-ERR user_function:3: attempt to index a non-table object(nil) with key 'y' script: {f}, on @user_function:3.\r\n"},
	{name: "call nil global", body: "return undefined_fn()"},
	{name: "arith on string", body: "return {} + 1", known: "vm-messages", raw: "-ERR user_function:2: cannot perform add operation between table and number script: {f}, on @user_function:2.\r\n"},

	// Global protection and sandbox.
	{name: "assign global", body: "x = 5"},
	{name: "assign library field", body: "string.foo = 1"},
	{name: "assign redis field", body: "redis.call = nil"},
	{name: "rawset _G", body: "rawset(_G, 'x', 1)"},
	{name: "setmetatable _G", body: "setmetatable(_G, {})"},
	{name: "read missing global", body: "return missing_global"},
	{name: "removed globals", body: "local out = {} for _, n in ipairs({'io', 'debug', 'package', 'require', 'dofile', 'loadfile', 'print', 'module', 'KEYS', 'ARGV'}) do local ok, e = pcall(function() return _G[n] end) out[#out+1] = tostring(ok) .. ' ' .. tostring(e) end return out"},
	{name: "present globals", body: "local out = {} for _, n in ipairs({'bit', 'cjson', 'struct', 'cmsgpack', 'redis', 'server', 'os', 'string', 'table', 'math', 'coroutine', 'loadstring', 'unpack', 'select', 'setfenv', 'getfenv', 'xpcall', 'tonumber', 'rawequal'}) do out[#out+1] = n .. '=' .. type(_G[n]) end return out"},
	{name: "os has clock only", body: "return {type(os.clock), type(os.time), type(os.exit), type(os.getenv)}"},
	{name: "redis is server", body: "return tostring(redis == server)"},
	{name: "no register_function at runtime", body: "return type(redis.register_function)"},
	{name: "version constants", body: "return {redis.VALKEY_VERSION, redis.REDIS_VERSION, redis.SERVER_NAME, redis.VALKEY_VERSION_NUM, redis.REDIS_VERSION_NUM, redis.LOG_WARNING, redis.REPL_ALL, type(server.SERVER_VERSION)}"},
	{name: "global names", body: "local g = {} for k in pairs(_G) do g[#g+1] = k end table.sort(g) return g", known: "globals",
		raw: "*35\r\n$2\r\n_G\r\n$8\r\n_VERSION\r\n$6\r\nassert\r\n$3\r\nbit\r\n$5\r\ncjson\r\n$8\r\ncmsgpack\r\n$9\r\ncoroutine\r\n$5\r\nerror\r\n$7\r\ngetfenv\r\n$12\r\ngetmetatable\r\n$6\r\nipairs\r\n$4\r\nload\r\n$10\r\nloadstring\r\n$4\r\nmath\r\n$8\r\nnewproxy\r\n$4\r\nnext\r\n$2\r\nos\r\n$5\r\npairs\r\n$5\r\npcall\r\n$8\r\nrawequal\r\n$6\r\nrawget\r\n$6\r\nrawset\r\n$5\r\nredis\r\n$6\r\nselect\r\n$6\r\nserver\r\n$7\r\nsetfenv\r\n$12\r\nsetmetatable\r\n$6\r\nstring\r\n$6\r\nstruct\r\n$5\r\ntable\r\n$8\r\ntonumber\r\n$8\r\ntostring\r\n$4\r\ntype\r\n$6\r\nunpack\r\n$6\r\nxpcall\r\n"},
	{name: "string names", body: "local g = {} for k in pairs(string) do g[#g+1] = k end table.sort(g) return g"},
	{name: "table names", body: "local g = {} for k in pairs(table) do g[#g+1] = k end table.sort(g) return g"},
	{name: "math names", body: "local g = {} for k in pairs(math) do g[#g+1] = k end table.sort(g) return g"},
	{name: "goto as identifier", body: "local goto = 1 return goto", known: "goto-keyword",
		raw: "-ERR Function not found\r\n"},
	{name: "table.foreach", body: "local out = {} table.foreachi({'a', 'b'}, function(i, v) out[#out+1] = i .. v end) local r = table.foreach({x = 1}, function(k, v) return k .. v end) out[#out+1] = r return out"},
	{name: "string methods", body: "local s = 'Hello' return {s:upper(), s:len(), ('%d'):format(5), #s:rep(2)}"},
	{name: "redis names", body: "local g = {} for k in pairs(redis) do g[#g+1] = k end table.sort(g) return g"},
	{name: "loadstring", body: "return loadstring('return 1 + 1')()"},
	{name: "unpack and select", body: "return {select('#', unpack({1, 2, 3})), select(2, 'a', 'b', 'c')}"},
	{name: "struct not provided", body: "return struct.pack('>I2', 1)", known: "struct-cmsgpack",
		raw: "-ERR user_function:2: the struct library is not provided by the embedded engine (ffgo/embedded) script: {f}, on @user_function:2.\r\n"},

	// Number formatting.
	{name: "tostring numbers", body: "return {tostring(0.1+0.2), tostring(1/3), tostring(1e14), tostring(1714000000000000), tostring(2^53), tostring(1/0), tostring(-1/0), tostring(0/0), tostring(100), tostring(-7.25e-5)}"},
	{name: "math.huge", body: "return {tostring(math.huge), tostring(-math.huge), tostring(math.huge == 1/0), tostring(tonumber('inf') == math.huge)}"},
	{name: "tostring negative zero", body: "return tostring(-0.0)"},
	{name: "concat integer", body: "return 'n=' .. 1714000000000 .. ' m=' .. 42"},
	{name: "concat float", body: "return 'x' .. 0.1 + 0.2", known: "number-coercion", raw: "$20\r\nx0.30000000000000004\r\n"},
	{name: "tonumber", body: "return {tonumber('0x10'), tonumber('1e2'), tonumber(' 5 '), tostring(tonumber('x'))}"},
	{name: "string.format", body: "return string.format('%d|%5.2f|%s|%x|%5s|%-3d|', 3, 1.5, 'x', 255, 'ab', 7)"},
	{name: "string.format %q", body: "return string.format('%q|%q', 'a\\nb\\r\\0\"\\\\', 1/3)"},
	{name: "string.format %s number", body: "return string.format('%s|%5s|%-8s|%d', 0.1 + 0.2, 1e15, 7, 3)"},
	{name: "table.concat numbers", body: "return table.concat({1, 0.1 + 0.2, 'x', 1e15}, ',')"},
	{name: "table.concat range and errors", body: "local ok, e = pcall(table.concat, {1, {}, 3}) return {table.concat({'a', 'b', 'c'}, '-', 2, 3), table.concat({}, 'x'), tostring(ok), e}"},
	{name: "string functions", body: "return {string.rep('ab', 3), ('hello'):sub(2, 4), string.upper('x'), string.byte('A'), string.char(72, 105), #'abc', string.find('hello', 'l+')}"},
	{name: "table functions", body: "local t = {3, 1, 2} table.sort(t) table.insert(t, 4) return {table.concat(t, ','), table.getn(t), table.remove(t)}"},
	{name: "math", body: "return {math.floor(2.7), math.max(1, 5, 3), math.huge > 0 and 1 or 0, math.fmod(7, 3), math.abs(-3)}"},

	// cjson.
	{name: "cjson encode array", body: "return cjson.encode({1, 2, 3})"},
	{name: "cjson encode empty table", body: "return cjson.encode({})"},
	{name: "cjson encode object", body: "return cjson.encode({a={b='c'}})"},
	{name: "cjson encode escapes", body: "return cjson.encode('a/b\"c\\n\\t\\1')"},
	{name: "cjson encode numbers", body: "return cjson.encode({12345678901234567, 0.1, 1e14, -0.0, 3, 1/3})"},
	{name: "cjson encode holes", body: "return cjson.encode({1, nil, 3})"},
	{name: "cjson encode sparse", body: "return cjson.encode({[1]=1, [20]=2})"},
	{name: "cjson encode nan", body: "return cjson.encode(0/0)"},
	{name: "cjson encode null", body: "return cjson.encode({cjson.null, true, false})"},
	{name: "cjson encode function", body: "return cjson.encode({f=function() end})"},
	{name: "cjson decode array", body: "local t = cjson.decode('[1, 2.5, \"x\", [true], {\"a\": \"b\"}]') return {t[1], t[3], tostring(t[4][1]), t[5].a, tostring(t[2])}"},
	{name: "cjson decode null", body: "local t = cjson.decode('{\"a\": null, \"b\": [null]}') return {tostring(t.a == cjson.null), tostring(t.b[1] == cjson.null), #t.b}"},
	{name: "cjson decode unicode", body: "return cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\"')"},
	{name: "cjson decode truncated", body: "return cjson.decode('[1,')"},
	{name: "cjson decode empty", body: "return cjson.decode('')"},
	{name: "cjson decode trailing", body: "return cjson.decode('{\"a\":1} x')"},
	{name: "cjson decode number", body: "return tostring(cjson.decode(' 1.5e3 '))"},
	{name: "cjson decode bad key", body: "return cjson.decode('{1: 2}')"},
	{name: "pcall cjson.decode", body: "local ok, e = pcall(cjson.decode, '{bad') return {tostring(ok), e}"},
	{name: "pcall cjson.encode", body: "local ok, e = pcall(cjson.encode, {f = print_nothing or function() end}) return {tostring(ok), e}"},
	{name: "cjson decode error in lua", body: "local ok, e = pcall(function() return cjson.decode('[1 2]') end) return {tostring(ok), e}"},
	{name: "bit bad argument", body: "local ok, e = pcall(bit.band, {}) return {tostring(ok), e}"},
	{name: "bit bad argument in lua", body: "return bit.bor(1, 'x')"},
	{name: "cjson round trip", body: "return cjson.encode(cjson.decode('{\"list\":[1,2,{\"x\":\"y\"}]}'))"},

	// bit.
	{name: "bit and or xor not", body: "return {bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0)}"},
	{name: "bit shifts", body: "return {bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.lshift(1, 33)}"},
	{name: "bit tobit", body: "return {bit.tobit(2^32 + 5), bit.tobit(1.5), bit.tobit(2.5), bit.tobit(-1), bit.tobit(2^31)}"},
	{name: "bit tohex", body: "return {bit.tohex(255), bit.tohex(-1, -4), bit.tohex(0x12345678, 4), bit.tohex(1, 12)}"},
	{name: "bit rotate bswap", body: "return {bit.rol(1, 33), bit.ror(1, 1), bit.bswap(0x12345678)}"},
	{name: "bit string coercion", body: "return bit.band('12', 10)"},

	// sha1hex and log.
	{name: "sha1hex", body: "return {redis.sha1hex(''), redis.sha1hex('abc'), redis.sha1hex(123)}"},
	{name: "sha1hex no args", body: "return redis.sha1hex()"},
	{name: "log", body: "redis.log(redis.LOG_WARNING, 'hello', 'world') return 1"},
	{name: "log bad level", body: "redis.log(9, 'x')"},
	{name: "log one arg", body: "redis.log(redis.LOG_WARNING)"},
	{name: "error_reply bad arg", body: "return redis.error_reply(5)"},
	{name: "setresp bad", body: "redis.setresp(4)"},
	{name: "setresp 3 hgetall", keys: []string{"{k}"}, body: "redis.call('hset', keys[1], 'f', 'v') redis.setresp(3) return redis.call('hgetall', keys[1])"},
	{name: "setresp 3 nil", keys: []string{"{k}"}, body: "redis.setresp(3) local r = redis.call('get', keys[1]) return type(r)"},

	{name: "acl_check_cmd", body: "return {tostring(redis.acl_check_cmd('set', 'k', 'v')), tostring(redis.acl_check_cmd('GET', 'k'))}"},
	{name: "acl_check_cmd unknown", body: "return redis.acl_check_cmd('nosuchcmd')"},
	{name: "set_repl", body: "redis.set_repl(redis.REPL_ALL) return 1"},
	{name: "set_repl bad", body: "redis.set_repl(7)"},
	{name: "xpcall handler", body: "local ok, e = xpcall(function() error('x') end, function(e) return 'handled: ' .. e end) return {tostring(ok), e}"},
	{name: "pcall returns values", body: "return {pcall(function() return 1, 2 end)}"},
	{name: "error object through pcall", body: "local ok, e = pcall(error, {code = 7}) return {tostring(ok), e.code}"},
	{name: "format g", body: "return string.format('%g|%g|%g|%.3g|%e|%5.1f|%i|%o|%X|%c', 1e20, 0.0001, 1e6, 3.14159, 12345.678, 3.14159, 42, 8, 255, 65)"},
	{name: "cjson encode control chars", body: "return cjson.encode('\\127\\0\\31 é')"},
	{name: "cjson encode nested empty", body: "return cjson.encode({{}, {a = {}}})"},
	{name: "cjson decode big integer", body: "return tostring(cjson.decode('12345678901234567890'))"},
	{name: "cjson decode duplicate keys", body: "return cjson.decode('{\"a\":1,\"a\":2}').a"},
	{name: "cjson decode escapes", body: "return cjson.decode('\"a\\\\b\\/c\\td\\n\"')"},
	{name: "cjson encode integer keys", body: "return cjson.encode({[2] = 'b', [1] = 'a'})"},
	{name: "cjson encode bad key", body: "return cjson.encode({[true] = 1})"},
	{name: "tostring basics", body: "return {tostring(nil), tostring(true), tostring(false), tostring('s'), type(tostring({}))}"},

	// no-writes.
	{name: "no-writes blocks writes", flags: "'no-writes'", keys: []string{"{k}"}, body: "return redis.call('set', keys[1], 1)"},
	{name: "no-writes pcall", flags: "'no-writes'", keys: []string{"{k}"}, body: "return redis.pcall('set', keys[1], 1)"},
	{name: "no-writes reads", flags: "'no-writes'", keys: []string{"{k}"}, ro: true, body: "return {redis.call('exists', keys[1]), type(redis.call('time'))}"},
	{name: "fcall_ro needs no-writes", ro: true, body: "return 1"},

	// FCALL arguments.
	{name: "function not found", src: "#!lua name={lib}\nredis.register_function('{f}', function() return 1 end)", cmds: [][]string{{"FCALL", "{f}_missing", "0"}}},
	{name: "bad numkeys", src: "#!lua name={lib}\nredis.register_function('{f}', function() return 1 end)", cmds: [][]string{{"FCALL", "{f}", "x"}, {"FCALL", "{f}", "-1"}, {"FCALL", "{f}", "3", "a"}, {"FCALL", "{f}_missing", "x"}, {"FCALL", "{f}"}}},

	{name: "function subcommand errors", src: "#!lua name={lib}\nredis.register_function('{f}', function() return 1 end)",
		cmds: [][]string{{"FUNCTION", "NoPe"}, {"FUNCTION", "DELETE"}, {"FUNCTION", "LOAD"}, {"FUNCTION", "FLUSH", "BOGUS"}, {"FCALL"}, {"FCALL_RO", "{f}"}, {"FUNCTION", "KILL"}}},
	{name: "fcall inside multi", src: "#!lua name={lib}\nredis.register_function('{f}', function() return 1 end)",
		cmds: [][]string{{"MULTI"}, {"FCALL", "{f}", "0"}, {"EXEC"}}, known: "multi",
		raw: "-EXECABORT Transaction discarded because of previous errors.\r\n"},

	// Key expiry at a function's frozen time (now): Valkey keeps a key up to
	// and including its deadline ms and deletes it at once when a new expiry is
	// not in the future. TTL and EXPIRETIME round to the nearest second.
	{name: "expiry at now", keys: []string{"{k}a", "{k}b", "{k}c", "{k}d", "{k}e", "{k}f", "{k}g"}, body: nowMs +
		"redis.call('set', keys[1], 'v', 'PXAT', now)\n" +
		"redis.call('set', keys[2], 'v', 'PXAT', now + 1)\n" +
		"redis.call('set', keys[3], 'v') local r3 = redis.call('pexpireat', keys[3], now)\n" +
		"redis.call('set', keys[4], 'v') local r4 = redis.call('pexpireat', keys[4], now + 1)\n" +
		"redis.call('set', keys[5], 'v', 'EXAT', math.floor(now / 1000))\n" +
		"redis.call('set', keys[6], 'v') local r6 = redis.call('getex', keys[6], 'PXAT', now)\n" +
		"redis.call('set', keys[7], 'v') redis.call('pexpire', keys[7], 1) redis.call('rename', keys[7], keys[1])\n" +
		"return {redis.call('exists', keys[1]), redis.call('pttl', keys[1]), redis.call('exists', keys[2]), redis.call('pttl', keys[2]), redis.call('ttl', keys[2]),\n" +
		"  redis.call('pexpiretime', keys[2]) - now, r3, redis.call('exists', keys[3]), r4, redis.call('pttl', keys[4]), redis.call('exists', keys[5]), r6, redis.call('exists', keys[6])}"},
	{name: "ttl rounding", keys: []string{"{k}a"}, body: nowMs +
		"local out = {} for _, ms in ipairs({1, 499, 500, 1499, 1500, 2500, 86400000}) do\n" +
		"  redis.call('set', keys[1], 'v', 'PX', ms)\n" +
		"  out[#out+1] = redis.call('ttl', keys[1]) out[#out+1] = redis.call('pttl', keys[1])\n" +
		"  out[#out+1] = redis.call('expiretime', keys[1]) - math.floor((now + ms + 500) / 1000)\n" +
		"  out[#out+1] = redis.call('pexpiretime', keys[1]) - now end\n" +
		"redis.call('persist', keys[1]) out[#out+1] = redis.call('ttl', keys[1]) out[#out+1] = redis.call('expiretime', keys[1])\n" +
		"redis.call('del', keys[1]) out[#out+1] = redis.call('pttl', keys[1]) out[#out+1] = redis.call('pexpiretime', keys[1])\n" +
		"return out"},
	{name: "expire flags", keys: []string{"{k}a", "{k}b"}, body: nowMs +
		"redis.call('set', keys[1], 'v', 'PX', 1000) local out = {}\n" +
		"for _, c in ipairs({{'pexpire', 1000, 'GT'}, {'pexpire', 2000, 'GT'}, {'pexpire', 2000, 'LT'}, {'pexpire', 1500, 'LT'}, {'pexpire', 1499, 'GT'},\n" +
		"    {'pexpireat', 'now+1500', 'LT'}, {'pexpireat', 'now+1500', 'GT'}, {'pexpireat', 'now+1501', 'GT'}, {'pexpireat', 'now+1500', 'LT'},\n" +
		"    {'expire', 5, 'NX'}, {'expire', 5, 'XX'}, {'pexpire', 3000}}) do\n" +
		"  local v = c[2] if type(v) == 'string' then v = now + tonumber(string.sub(v, 5)) end\n" +
		"  local args = {c[1], keys[1], v} if c[3] then args[4] = c[3] end\n" +
		"  out[#out+1] = redis.call(unpack(args)) out[#out+1] = redis.call('pttl', keys[1]) end\n" +
		"redis.call('set', keys[2], 'v') out[#out+1] = redis.call('pexpire', keys[2], 100, 'GT') out[#out+1] = redis.call('pexpire', keys[2], 100, 'LT')\n" +
		"out[#out+1] = redis.call('pexpire', keys[2], 100, 'XX') out[#out+1] = redis.call('pexpire', keys[2], 100, 'NX') out[#out+1] = redis.call('pttl', keys[2])\n" +
		"return out"},
	{name: "ttl follows the key", keys: []string{"{k}a", "{k}b", "{k}c", "{k}d"}, body: nowMs +
		"redis.call('set', keys[1], 'v', 'PX', 5000) redis.call('rename', keys[1], keys[2]) local out = {redis.call('pttl', keys[2])}\n" +
		"redis.call('copy', keys[2], keys[3]) out[#out+1] = redis.call('pttl', keys[3])\n" +
		"redis.call('set', keys[3], 'w', 'KEEPTTL') out[#out+1] = redis.call('pttl', keys[3])\n" +
		"redis.call('set', keys[3], 'w') out[#out+1] = redis.call('pttl', keys[3])\n" +
		"redis.call('setex', keys[4], 7, 'v') out[#out+1] = redis.call('pttl', keys[4])\n" +
		"redis.call('psetex', keys[4], 70, 'v') out[#out+1] = redis.call('pttl', keys[4])\n" +
		"out[#out+1] = redis.call('getex', keys[4], 'PERSIST') out[#out+1] = redis.call('pttl', keys[4])\n" +
		"redis.call('expire', keys[4], 9) out[#out+1] = redis.call('getset', keys[4], 'x') out[#out+1] = redis.call('pttl', keys[4])\n" +
		"redis.call('expire', keys[4], 9) out[#out+1] = redis.call('renamenx', keys[4], keys[1]) out[#out+1] = redis.call('pttl', keys[1])\n" +
		"return out"},
	{name: "hash field ttl is unknown", keys: []string{"{k}"}, body: "redis.call('hset', keys[1], 'f', 'v') return {redis.pcall('hexpire', keys[1], 10, 'FIELDS', 1, 'f'), redis.pcall('hsetex', keys[1], 10, 'f', 'v'), redis.pcall('httl', keys[1], 'FIELDS', 1, 'f')}",
		cmds: [][]string{{"HEXPIRE", "{k}", "10", "FIELDS", "1", "f"}, {"HPTTL", "{k}", "FIELDS", "1", "f"}}},
	{name: "lmove leaves the ttl", keys: []string{"{k}a", "{k}b"},
		body: "redis.call('rpush', keys[1], 'x', 'y') redis.call('pexpire', keys[1], 100000) redis.call('lmove', keys[1], keys[2], 'LEFT', 'LEFT') return redis.call('pttl', keys[2])"},

	// FUNCTION LOAD.
	{name: "missing shebang", src: "redis.register_function('{f}', function() return 1 end)"},
	{name: "no name", src: "#!lua\nredis.register_function('{f}', function() return 1 end)"},
	{name: "bad library name", src: "#!lua name={lib}-x\nredis.register_function('{f}', function() return 1 end)"},
	{name: "unknown metadata", src: "#!lua name={lib} foo=bar\nredis.register_function('{f}', function() return 1 end)"},
	{name: "unknown engine", src: "#!js name={lib}\nredis.register_function('{f}', function() return 1 end)"},
	{name: "shebang only", src: "#!lua name={lib}"},
	{name: "no functions", src: "#!lua name={lib}\nlocal x = 1"},
	{name: "duplicate in library", src: "#!lua name={lib}\nredis.register_function('{f}', function() end)\nredis.register_function('{f}', function() end)"},
	{name: "unknown flag", src: "#!lua name={lib}\nredis.register_function{function_name='{f}', callback=function() end, flags={'bogus'}}"},
	{name: "unknown named argument", src: "#!lua name={lib}\nredis.register_function{function_name='{f}', callback=function() end, foo=1}"},
	{name: "single non-table argument", src: "#!lua name={lib}\nredis.register_function('{f}')"},
	{name: "callback not a function", src: "#!lua name={lib}\nredis.register_function('{f}', 5)"},
	{name: "bad function name", src: "#!lua name={lib}\nredis.register_function('{f}-x', function() end)"},
	{name: "number function name", src: "#!lua name={lib}\nredis.register_function(5, function() return 'five' end)", cmds: [][]string{{"FCALL", "5", "0"}}},
	{name: "syntax error", src: "#!lua name={lib}\nlocal a = (1", known: "compile-messages",
		raw: "-ERR Error compiling function: user_function at EOF:   syntax error \r\n"},
	{name: "goto rejected", src: "#!lua name={lib}\nredis.register_function('{f}', function() goto x end)"},
	{name: "label rejected", src: "#!lua name={lib}\nredis.register_function('{f}', function() ::x:: end)"},
	{name: "redis.call at load", src: "#!lua name={lib}\nredis.call('ping')\nredis.register_function('{f}', function() end)"},
	{name: "global assignment at load", src: "#!lua name={lib}\nx = 1\nredis.register_function('{f}', function() end)"},
	{name: "string library at load", src: "#!lua name={lib}\nlocal f = string.format\nredis.register_function('{f}', function() end)"},
	{name: "error at load", src: "#!lua name={lib}\nerror('x')"},
	{name: "library exists", src: "#!lua name={lib}\nredis.register_function('{f}', function() return 1 end)",
		cmds: [][]string{{"FUNCTION", "LOAD", "#!lua name={lib}\nredis.register_function('{f}', function() return 2 end)"}}},
	{name: "replace is all or nothing", src: "#!lua name={lib}\nredis.register_function('{f}', function() return 1 end)",
		cmds: [][]string{
			{"FUNCTION", "LOAD", "REPLACE", "#!lua name={lib}\nredis.register_function('{f}', function() return 2 end)\nerror('broken')"},
			{"FCALL", "{f}", "0"},
			{"FUNCTION", "LOAD", "REPLACE", "#!lua name={lib}\nredis.register_function('{f}', function() return 3 end)"},
			{"FCALL", "{f}", "0"},
		}},
	{name: "function exists in another library", src: "#!lua name={lib}\nredis.register_function('{f}', function() return 1 end)",
		cmds: [][]string{{"FUNCTION", "LOAD", "#!lua name={lib2}\nredis.register_function('{f}', function() return 2 end)"}, {"FCALL", "{f}", "0"}}},
	{name: "function names ignore case", src: "#!lua name={lib}\nredis.register_function('{f}_Mixed', function() return 1 end)",
		cmds: [][]string{{"FCALL", "{f}_mixed", "0"}, {"FCALL", "{F}_MIXED", "0"},
			{"FUNCTION", "LOAD", "#!lua name={lib2}\nredis.register_function('{f}_MIXED', function() return 2 end)"}}},
	{name: "library names keep case", src: "#!lua name={lib}\nredis.register_function('{f}', function() return 1 end)",
		cmds: [][]string{{"FUNCTION", "LOAD", "#!lua name={LIB}\nredis.register_function('{f}_other', function() return 2 end)"}, {"FUNCTION", "DELETE", "{LIB}"}}},
	{name: "delete", src: "#!lua name={lib}\nredis.register_function('{f}', function() return 1 end)",
		cmds: [][]string{{"FUNCTION", "DELETE", "{lib}"}, {"FCALL", "{f}", "0"}, {"FUNCTION", "DELETE", "{lib}"}}},
	{name: "load bad option", src: "#!lua name={lib}\nredis.register_function('{f}', function() return 1 end)",
		cmds: [][]string{{"FUNCTION", "LOAD", "BOGUS", "#!lua name={lib}\nredis.register_function('{f}', function() return 1 end)"}}},
	{name: "function list", src: "#!lua name={lib}\nredis.register_function{function_name='{f}', callback=function() return 1 end, flags={'no-writes'}, description='desc'}",
		cmds: [][]string{{"FUNCTION", "LIST", "LIBRARYNAME", "{lib}"}, {"FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "{lib}"}}},
}

// nowMs starts a function body that needs its frozen time in ms.
const nowMs = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"

// placeholders returns the name substitutions of case i in this run.
func placeholders(i int) *strings.Replacer {
	run := os.Getpid() % 100000
	return strings.NewReplacer(
		"{lib2}", fmt.Sprintf("edl%d_%d_b", run, i),
		"{lib}", fmt.Sprintf("edl%d_%d", run, i),
		"{f2}", fmt.Sprintf("edf%d_%d_b", run, i),
		"{f}", fmt.Sprintf("edf%d_%d", run, i),
		"{k}", fmt.Sprintf("ed:%d:%d", run, i),
		"{F}", fmt.Sprintf("EDF%d_%d", run, i),
		"{LIB}", fmt.Sprintf("EDL%d_%d", run, i),
	)
}

func expand(r *strings.Replacer, cmds [][]string) [][]string {
	out := make([][]string, len(cmds))
	for i, c := range cmds {
		out[i] = make([]string, len(c))
		for j, a := range c {
			out[i][j] = r.Replace(a)
		}
	}
	return out
}

// commands returns the commands of a case (the compared ones) and its cleanup.
func (c diffCase) commands(i int) (run, setup, cleanup [][]string) {
	r := placeholders(i)
	var cmds [][]string
	if c.src != "" {
		cmds = append(cmds, []string{"FUNCTION", "LOAD", c.src})
	} else {
		reg := "redis.register_function('{f}', function(keys, args) " + c.body + "\nend)"
		if c.flags != "" {
			reg = "redis.register_function{function_name='{f}', flags={" + c.flags + "}, callback=function(keys, args) " + c.body + "\nend}"
		}
		cmds = append(cmds, []string{"FUNCTION", "LOAD", "#!lua name={lib}\n" + reg})
		call := "FCALL"
		if c.ro {
			call = "FCALL_RO"
		}
		fc := []string{call, "{f}", fmt.Sprint(len(c.keys))}
		fc = append(fc, c.keys...)
		fc = append(fc, c.args...)
		cmds = append(cmds, fc)
	}
	cmds = append(cmds, c.cmds...)
	del := []string{"DEL", "{k}"}
	del = append(del, c.keys...)
	cleanup = [][]string{{"FUNCTION", "DELETE", "{lib}"}, {"FUNCTION", "DELETE", "{lib2}"}, del}
	return expand(r, cmds), expand(r, c.setup), expand(r, cleanup)
}

// runCase runs a case on one engine, through valkey-go and then raw RESP2,
// cleaning up before and after each run.
func runCase(t *testing.T, e *engine, c diffCase, i int) (viaClient []any, raw []string) {
	t.Helper()
	cmds, setup, cleanup := c.commands(i)
	for pass := range 2 {
		for _, cl := range cleanup {
			e.rawDo(t, cl...)
		}
		for _, s := range setup {
			e.rawDo(t, s...)
		}
		for _, cmd := range cmds {
			if pass == 0 {
				viaClient = append(viaClient, e.do(t, cmd...))
			} else {
				raw = append(raw, e.rawDo(t, cmd...))
			}
		}
	}
	for _, cl := range cleanup {
		e.rawDo(t, cl...)
	}
	return viaClient, raw
}

func TestDifferential(t *testing.T) {
	valkeyEngine := newValkeyEngine(t)
	_, emb := newEmbeddedEngine(t)
	for i, c := range diffCases {
		t.Run(c.name, func(t *testing.T) {
			wantClient, wantRaw := runCase(t, valkeyEngine, c, i)
			gotClient, gotRaw := runCase(t, emb, c, i)
			diff := cmp.Diff(wantClient, gotClient) + cmp.Diff(wantRaw, gotRaw)
			switch {
			case c.known == "" && diff != "":
				t.Errorf("engines differ (-valkey +embedded):\n%s", diff)
			case c.known != "" && diff == "":
				t.Errorf("listed as known difference %q, but the engines now agree: remove it from the case and KNOWN_DIFFERENCES.md", c.known)
			}
		})
	}
}

// TestKnownDifferences pins the embedded side of every accepted difference
// (see KNOWN_DIFFERENCES.md); it needs no Valkey.
func TestKnownDifferences(t *testing.T) {
	_, emb := newEmbeddedEngine(t)
	for i, c := range diffCases {
		if c.known == "" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			_, raw := runCase(t, emb, c, i)
			want := placeholders(i).Replace(c.raw)
			if diff := cmp.Diff(want, raw[len(raw)-1]); diff != "" {
				t.Errorf("embedded reply changed for known difference %q (-pinned +got):\n%s", c.known, diff)
			}
		})
	}
}

// TestDifferentialExpiryBoundary checks the expiry rule on both engines as
// time really passes: every (server ms, EXISTS, PTTL) read in one function
// call must show the key while now <= its deadline, with PTTL deadline-now,
// and no key once now > deadline. Only the relation between the server's own
// clock and its answers is checked, never how long anything took.
func TestDifferentialExpiryBoundary(t *testing.T) {
	valkeyEngine := newValkeyEngine(t)
	_, emb := newEmbeddedEngine(t)
	r := placeholders(len(diffCases))
	lib, f, key := r.Replace("{lib}"), r.Replace("{f}"), r.Replace("{k}")
	src := "#!lua name=" + lib + "\nredis.register_function('" + f + "', function(keys, args)\n" + nowMs +
		"if args[1] then redis.call('SET', keys[1], 'v', 'PXAT', now + tonumber(args[1])) return {now + tonumber(args[1])} end\n" +
		"return {now, redis.call('EXISTS', keys[1]), redis.call('PTTL', keys[1])} end)"
	for _, e := range []*engine{valkeyEngine, emb} {
		t.Run(e.name, func(t *testing.T) {
			if out := e.rawDo(t, "FUNCTION", "LOAD", "REPLACE", src); !strings.HasPrefix(out, "$") {
				t.Fatalf("FUNCTION LOAD: %q", out)
			}
			defer e.rawDo(t, "FUNCTION", "DELETE", lib)
			defer e.rawDo(t, "DEL", key)
			call := func(args ...string) []int64 {
				t.Helper()
				v := e.do(t, append([]string{"FCALL", f, "1", key}, args...)...)
				var out []int64
				for _, x := range v.(map[string]any)["Value"].([]any) {
					out = append(out, int64(x.(map[string]any)["Value"].(float64)))
				}
				return out
			}
			deadline := call("15")[0]
			seen, after := 0, 0
			for i := 0; after < 3; i++ {
				if i > 1_000_000 {
					t.Fatal("the server clock did not pass the deadline")
				}
				got := call()
				want := []int64{got[0], 0, -2}
				if got[0] <= deadline {
					want = []int64{got[0], 1, deadline - got[0]}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("deadline %d: [now EXISTS PTTL] (-want +got):\n%s", deadline, diff)
				}
				if got[0] == deadline {
					seen++
				}
				if got[0] > deadline {
					after++
				}
			}
			t.Logf("%s: observed the deadline ms %d times", e.name, seen)
		})
	}
}
