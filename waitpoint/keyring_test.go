package waitpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/flowfabric/ffgo/internal/valkeytest"
	"github.com/flowfabric/ffgo/keyspace"
	"github.com/google/go-cmp/cmp"
	"github.com/valkey-io/valkey-go"
)

const (
	secret2 = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"
	nowMs   = 1700000000000
)

var testBinding = Binding{WaitpointID: wpID, WaitpointKey: "wpk:test", CreatedAtMs: 1700000000000}

// sign signs testBinding with a hex secret under kid.
func sign(t *testing.T, kid, secretHex string) string {
	t.Helper()
	mac, err := MACHex(secretHex, testBinding.Message())
	if err != nil {
		t.Fatal(err)
	}
	return kid + ":" + mac
}

func TestKeyringVerify(t *testing.T) {
	ring := ParseKeyring(map[string]string{
		"current_kid":         "k3",
		"secret:k3":           secret1,
		"secret:k2":           secret2,
		"expires_at:k2":       fmt.Sprint(nowMs), // valid through nowMs inclusive
		"secret:k1":           strings.Repeat("ab", 80),
		"expires_at:k1":       fmt.Sprint(nowMs - 1), // expired
		"secret:k0":           secret2,               // retired without expiry
		"secret:kbad":         "abc",
		"expires_at:kbad":     fmt.Sprint(nowMs + 1000),
		"secret:kjunk":        secret2,
		"expires_at:kjunk":    "1e13", // Lua tonumber would accept; we fail closed
		"secret:kneg":         secret2,
		"expires_at:kneg":     "-5",
		"expires_at:kghost":   fmt.Sprint(nowMs + 1000), // expiry without a secret
		"previous_kid":        "k2",
		"previous_expires_at": fmt.Sprint(nowMs),
		"unrelated":           "x",
	})
	now := time.UnixMilli(nowMs)
	tests := []struct {
		name  string
		token string
		code  string
	}{
		{"current kid", sign(t, "k3", secret1), ""},
		{"retired kid at its expiry", sign(t, "k2", secret2), ""},
		{"retired kid after its expiry", sign(t, "k1", strings.Repeat("ab", 80)), "token_expired"},
		{"retired kid without expiry", sign(t, "k0", secret2), "token_expired"},
		{"retired kid with malformed expiry", sign(t, "kjunk", secret2), "token_expired"},
		{"retired kid with negative expiry", sign(t, "kneg", secret2), "token_expired"},
		{"retired kid with bad secret", "kbad:" + strings.Repeat("0", 40), "invalid_secret"},
		{"unknown kid", sign(t, "k9", secret1), "invalid_token"},
		{"expiry without secret", sign(t, "kghost", secret1), "invalid_token"},
		{"wrong secret for kid", sign(t, "k3", secret2), "invalid_token"},
		{"uppercase digest", "k3:" + strings.ToUpper(sign(t, "k3", secret1)[3:]), "invalid_token"},
		{"empty", "", "missing_token"},
		{"no colon", "k3", "invalid_token"},
		{"short digest", "k3:abc", "invalid_token"},
		{"all zero digest", "k3:" + strings.Repeat("0", 40), "invalid_token"},
	}
	for _, tt := range tests {
		err := ring.Verify(tt.token, testBinding, now)
		if got := ErrorCode(err); got != tt.code {
			t.Errorf("%s: Verify = %v (code %q), want code %q", tt.name, err, got, tt.code)
		}
		if err != nil && tt.code != "" && ErrorCode(err) == "" {
			t.Errorf("%s: error has no code: %v", tt.name, err)
		}
		if err != nil && (strings.Contains(err.Error(), secret1) || strings.Contains(err.Error(), secret2)) {
			t.Errorf("%s: error leaks a secret: %v", tt.name, err)
		}
	}
	if err := ring.Verify(sign(t, "k2", secret2), testBinding, now.Add(time.Millisecond)); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("k2 one ms after expiry: %v, want ErrTokenExpired", err)
	}
	if ring.PreviousKID != "k2" || ring.PreviousExpiresAt != fmt.Sprint(nowMs) || ring.CurrentKID() != "k3" {
		t.Errorf("audit fields: %+v", ring)
	}
	wantRetired := []RetiredKey{{"k2", nowMs}, {"kbad", nowMs + 1000}}
	if diff := cmp.Diff(wantRetired, ring.Retired(now)); diff != "" {
		t.Errorf("Retired (-want +got):\n%s", diff)
	}
}

// TestVerifyOrder follows suspend-signal §4.4: token shape is checked before
// the keystore, the keystore before the secret, the secret before the MAC.
func TestVerifyOrder(t *testing.T) {
	now := time.UnixMilli(nowMs)
	empty := ParseKeyring(nil)
	noCurrentSecret := ParseKeyring(map[string]string{"current_kid": "k1"})
	badCurrent := ParseKeyring(map[string]string{"current_kid": "k1", "secret:k1": "zz"})
	tests := []struct {
		name  string
		ring  Keyring
		token string
		code  string
	}{
		{"empty token beats empty keystore", empty, "", "missing_token"},
		{"bad shape beats empty keystore", empty, "k1:abc", "invalid_token"},
		{"empty keystore", empty, sign(t, "k1", secret1), "hmac_secret_not_initialized"},
		{"current kid without secret", noCurrentSecret, sign(t, "k1", secret1), "invalid_token"},
		{"bad secret beats MAC compare", badCurrent, "k1:" + strings.Repeat("x", 40), "invalid_secret"},
		{"empty current secret is absent", ParseKeyring(map[string]string{"current_kid": "k1", "secret:k1": ""}), sign(t, "k1", secret1), "invalid_token"},
		{"empty retired secret is absent", ParseKeyring(map[string]string{"current_kid": "k2", "secret:k2": secret1, "secret:k1": "", "expires_at:k1": fmt.Sprint(nowMs)}), sign(t, "k1", secret1), "invalid_token"},
		{"empty retired expiry is absent", ParseKeyring(map[string]string{"current_kid": "k2", "secret:k2": secret1, "secret:k1": secret1, "expires_at:k1": ""}), sign(t, "k1", secret1), "token_expired"},
	}
	for _, tt := range tests {
		if got := ErrorCode(tt.ring.Verify(tt.token, testBinding, now)); got != tt.code {
			t.Errorf("%s: code %q, want %q", tt.name, got, tt.code)
		}
	}
}

func TestKeyringSign(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]string
		want   string
		code   string
	}{
		{"current", map[string]string{"current_kid": "k1", "secret:k1": secret1},
			"k1:62f98bf08c9e335d409a0484757fd1c8f9804ad8", ""},
		{"empty keystore", nil, "", "hmac_secret_not_initialized"},
		{"empty current kid", map[string]string{"current_kid": "", "secret:": secret1}, "", "hmac_secret_not_initialized"},
		{"no secret for current", map[string]string{"current_kid": "k1", "secret:k0": secret1}, "", "hmac_secret_not_initialized"},
		{"bad secret", map[string]string{"current_kid": "k1", "secret:k1": "0g"}, "", "invalid_secret"},
		{"empty secret", map[string]string{"current_kid": "k1", "secret:k1": ""}, "", "hmac_secret_not_initialized"},
	}
	for _, tt := range tests {
		tok, err := ParseKeyring(tt.fields).Sign(testBinding)
		got := ""
		if err == nil {
			got = tok.String()
		}
		if got != tt.want || ErrorCode(err) != tt.code {
			t.Errorf("%s: Sign = %q, %v; want %q, code %q", tt.name, got, err, tt.want, tt.code)
		}
	}
}

func TestKeyringValidate(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]string
		want   []string
	}{
		{"good", map[string]string{"current_kid": "k2", "secret:k2": secret1, "secret:k1": secret2, "expires_at:k1": "1"}, nil},
		{"empty", nil, []string{"waitpoint: invalid keystore: no current_kid"}},
		{"many problems", map[string]string{
			"current_kid":   "k2",
			"expires_at:k2": "5",
			"secret:k2":     secret1 + "0",
			"secret:a:b":    secret1,
			"secret:":       secret1,
			"secret:k1":     secret2,
			"secret:k0":     secret2,
			"expires_at:k0": "soon",
		}, []string{
			`waitpoint: invalid keystore: field "secret:": empty kid`,
			`waitpoint: invalid keystore: kid "a:b" contains ':'`,
			`waitpoint: invalid keystore: retired kid "k0": expiry "soon" is not a positive decimal integer`,
			`waitpoint: invalid keystore: retired kid "k1" has no expires_at:k1 field and can never verify`,
			`waitpoint: invalid keystore: kid "k2": secret is not valid hex: odd length 65`,
			`waitpoint: invalid keystore: current kid "k2" has an expires_at:k2 field`,
		}},
		{"no secret for current", map[string]string{"current_kid": "k2"},
			[]string{"waitpoint: invalid keystore: no secret:k2 field for the current kid"}},
	}
	for _, tt := range tests {
		err := ParseKeyring(tt.fields).Validate()
		var got []string
		if err != nil {
			if !errors.Is(err, ErrInvalidKeyring) {
				t.Errorf("%s: %v does not match ErrInvalidKeyring", tt.name, err)
			}
			got = strings.Split(err.Error(), "\n")
			if strings.Contains(err.Error(), secret1) {
				t.Errorf("%s: Validate leaks a secret", tt.name)
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
		if tt.name == "many problems" {
			for _, sentinel := range []error{ErrInvalidKID, ErrInvalidSecret, ErrTokenExpired} {
				if !errors.Is(err, sentinel) {
					t.Errorf("%s: errors.Is(err, %v) = false", tt.name, sentinel)
				}
			}
			if errors.Is(err, ErrSecretNotInitialized) {
				t.Errorf("%s: matches ErrSecretNotInitialized though current kid has a secret", tt.name)
			}
		}
	}
}

func TestReadKeyring(t *testing.T) {
	m := miniredis.RunT(t)
	c, err := valkey.NewClient(valkey.ClientOption{InitAddress: []string{m.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	p := keyspace.Partition(5)

	ring, err := ReadKeyring(ctx, c, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Sign(testBinding); !errors.Is(err, ErrSecretNotInitialized) {
		t.Errorf("missing keystore: Sign = %v, want ErrSecretNotInitialized", err)
	}

	m.HSet("ff:sec:{fp:5}:waitpoint_hmac", "current_kid", "k1", "secret:k1", secret1)
	ring, err = ReadKeyring(ctx, c, p)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ring.Sign(testBinding)
	if err != nil || tok.String() != "k1:62f98bf08c9e335d409a0484757fd1c8f9804ad8" {
		t.Errorf("Sign = %v, %v", tok, err)
	}

	m.Del("ff:sec:{fp:5}:waitpoint_hmac")
	if err := m.Set("ff:sec:{fp:5}:waitpoint_hmac", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyring(ctx, c, p); err == nil || !strings.HasPrefix(err.Error(), "waitpoint: HGETALL ff:sec:{fp:5}:waitpoint_hmac: WRONGTYPE") {
		t.Errorf("wrong type: %v", err)
	}
}

// TestReadKeyringValkey writes a keystore on a partition number no other
// test uses (chosen from the clock, in 60000..65535), reads it back from the
// real server, and deletes it.
func TestReadKeyringValkey(t *testing.T) {
	c := valkeytest.Standalone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p := keyspace.Partition(60000 + time.Now().UnixNano()%5536)
	key := p.HMACSecrets()
	if n, err := c.Do(ctx, c.B().Exists().Key(key).Build()).AsInt64(); err != nil || n != 0 {
		t.Skipf("key %s exists or EXISTS failed (%v); not touching it", key, err)
	}
	t.Cleanup(func() { c.Do(context.Background(), c.B().Del().Key(key).Build()) })
	err := c.Do(ctx, c.B().Hset().Key(key).FieldValue().
		FieldValue("current_kid", "k2").FieldValue("secret:k2", secret1).
		FieldValue("secret:k1", secret2).FieldValue("expires_at:k1", fmt.Sprint(nowMs+5)).Build()).Error()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := ReadKeyring(ctx, c, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Validate(); err != nil {
		t.Error(err)
	}
	now := time.UnixMilli(nowMs)
	if err := ring.Verify(sign(t, "k1", secret2), testBinding, now); err != nil {
		t.Errorf("retired k1: %v", err)
	}
	if err := ring.Verify(sign(t, "k2", secret1), testBinding, now); err != nil {
		t.Errorf("current k2: %v", err)
	}
}

// FuzzKeyringVerify: any presented token gets one of the library's codes,
// never a panic, and only the real token verifies.
func FuzzKeyringVerify(f *testing.F) {
	ring := ParseKeyring(map[string]string{
		"current_kid": "k2", "secret:k2": secret1,
		"secret:k1": secret2, "expires_at:k1": fmt.Sprint(nowMs),
		"secret:kx": "zz", "expires_at:kx": fmt.Sprint(nowMs),
	})
	good := "k2:62f98bf08c9e335d409a0484757fd1c8f9804ad8"
	for _, s := range []string{good, "", "k1:" + strings.Repeat("0", 40), "kx:" + strings.Repeat("0", 40), "k3:x", ":"} {
		f.Add(s)
	}
	codes := map[string]bool{"": true, "missing_token": true, "invalid_token": true, "token_expired": true, "invalid_secret": true}
	f.Fuzz(func(t *testing.T, token string) {
		err := ring.Verify(token, testBinding, time.UnixMilli(nowMs))
		if !codes[ErrorCode(err)] || (err != nil && ErrorCode(err) == "") {
			t.Fatalf("Verify(%q): unexpected error %v", token, err)
		}
		if err == nil && token != good {
			t.Fatalf("Verify(%q) accepted a token other than the real one", token)
		}
	})
}
