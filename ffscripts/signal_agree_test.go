package ffscripts_test

import (
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/flowfabric/ffgo/waitpoint"
	"github.com/google/uuid"
)

// sigRandString returns n random bytes drawn from printable ASCII, '|' and ':' included,
// plus some UTF-8 (the id and key are opaque strings on both sides).
func sigRandString(r *rand.Rand, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_|: {}é€"
	runes := []rune(alphabet)
	out := make([]rune, n)
	for i := range out {
		out[i] = runes[r.IntN(len(runes))]
	}
	return string(out)
}

// TestSignalTokensAgreeWithGo: tokens minted by the library equal the waitpoint package's
// for random secrets (1 to 100 bytes, so both sides of the 64-byte hashing rule), ids, keys
// and creation times; and Go-signed tokens for arbitrary created_at pass the library's check.
func TestSignalTokensAgreeWithGo(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	sigEachTarget(t, func(t *testing.T, f *fx) {
		e, l := f.running()
		for i := range 40 {
			secret := make([]byte, 1+r.IntN(100))
			for j := range secret {
				secret[j] = byte(r.UintN(256))
			}
			kid := "g" + strconv.Itoa(i)
			if _, err := f.rotate(kid, hex.EncodeToString(secret), 0); err != nil {
				t.Fatalf("rotate: %v", err)
			}
			key := waitpoint.Key{KID: kid, Secret: secret}

			// Library mints, Go checks.
			// Ids start with a fresh uuid: random short ids collided with waitpoints left on a
			// shared server by earlier runs (waitpoint_already_exists).
			wp := uuid.NewString() + sigRandString(r, 1+r.IntN(40))
			wpk := sigRandString(r, r.IntN(40))
			rep, err := e.pendingWP(l, wp, wpk, f.serverMs()+60000)
			if err != nil {
				t.Fatalf("create pending %q: %v", wp, err)
			}
			created, err := strconv.ParseInt(f.hgetallKey(f.wpKey(wp))["created_at"], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			want := key.Sign(waitpoint.Binding{WaitpointID: wp, WaitpointKey: wpk, CreatedAtMs: created}).String()
			if rep.WaitpointToken != want {
				t.Fatalf("secret %x wp %q key %q created %d: library %s, Go %s", secret, wp, wpk, created, rep.WaitpointToken, want)
			}

			// Go signs for an arbitrary created_at, the library accepts it (and refuses a
			// one-character change).
			wp2 := uuid.NewString() + sigRandString(r, 1+r.IntN(40))
			b := waitpoint.Binding{WaitpointID: wp2, WaitpointKey: sigRandString(r, r.IntN(40)), CreatedAtMs: r.Int64N(1 << 52)}
			f.do(f.db.B().Hset().Key(f.wpKey(wp2)).FieldValue().FieldValue("waitpoint_id", wp2).
				FieldValue("execution_id", e.id).FieldValue("waitpoint_key", b.WaitpointKey).
				FieldValue("created_at", strconv.FormatInt(b.CreatedAtMs, 10)).FieldValue("state", "pending").Build())
			tok := key.Sign(b).String()
			if _, err := e.deliverTo(wp2, dreq{name: "x", token: tok}); sigCode(t, err) != "waitpoint_pending_use_buffer_script" {
				t.Fatalf("Go token %s for %+v refused: %v", tok, b, err)
			}
			bad := []byte(tok)
			bad[len(bad)-1-r.IntN(40)] ^= 1
			if _, err := e.deliverTo(wp2, dreq{name: "x", token: string(bad)}); sigCode(t, err) != "invalid_token" {
				t.Fatalf("altered token %s: %v", bad, err)
			}
		}
	})
}
