package waitpoint

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	secret1 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	wpID    = "11111111-1111-1111-1111-111111111111"
)

// The spec's verified vectors (suspend-signal §4.2).
func TestMACVectors(t *testing.T) {
	tests := []struct {
		secretHex, message, want string
	}{
		{secret1, wpID + "|wpk:test|1700000000000", "62f98bf08c9e335d409a0484757fd1c8f9804ad8"},
		{strings.Repeat("ab", 80), "x|y|1", "c7aeecb15024dd9aedd1b83a0f9fbb06eb00d258"},    // 80-byte key: hashed first
		{strings.Repeat("0b", 20), "Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"}, // RFC 2202 case 1
		{strings.Repeat("AB", 80), "x|y|1", "c7aeecb15024dd9aedd1b83a0f9fbb06eb00d258"},    // uppercase hex secret decodes the same
	}
	for _, tt := range tests {
		got, err := MACHex(tt.secretHex, tt.message)
		if err != nil {
			t.Errorf("MACHex(%.8s..., %q): %v", tt.secretHex, tt.message, err)
			continue
		}
		if got != tt.want {
			t.Errorf("MACHex(%.8s..., %q) = %s, want %s", tt.secretHex, tt.message, got, tt.want)
		}
	}
	b := Binding{WaitpointID: wpID, WaitpointKey: "wpk:test", CreatedAtMs: 1700000000000}
	if got, want := b.Message(), wpID+"|wpk:test|1700000000000"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
	secret, _ := DecodeSecret(secret1)
	tok := Key{KID: "k1", Secret: secret}.Sign(b)
	if got, want := tok.String(), "k1:62f98bf08c9e335d409a0484757fd1c8f9804ad8"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestDecodeSecret(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
		msg  string
	}{
		{"00ff", []byte{0x00, 0xff}, ""},
		{"ABcd", []byte{0xab, 0xcd}, ""},
		{"", nil, "waitpoint: invalid secret: empty"},
		{"abc", nil, "waitpoint: invalid secret: odd length 3"},
		{"zz", nil, "waitpoint: invalid secret: non-hex character at offset 0"},
		{"00 1", nil, "waitpoint: invalid secret: non-hex character at offset 2"},
		{"0x00", nil, "waitpoint: invalid secret: non-hex character at offset 1"},
		{"-1", nil, "waitpoint: invalid secret: non-hex character at offset 0"},
		{"ab\x00c", nil, "waitpoint: invalid secret: non-hex character at offset 2"},
	}
	for _, tt := range tests {
		got, err := DecodeSecret(tt.in)
		msg := ""
		if err != nil {
			msg = err.Error()
			if !errors.Is(err, ErrInvalidSecret) || ErrorCode(err) != "invalid_secret" {
				t.Errorf("DecodeSecret(%q): %v is not ErrInvalidSecret", tt.in, err)
			}
		}
		if diff := cmp.Diff(struct {
			B   []byte
			Msg string
		}{tt.want, tt.msg}, struct {
			B   []byte
			Msg string
		}{got, msg}); diff != "" {
			t.Errorf("DecodeSecret(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	if _, err := MACHex("abc", "m"); !errors.Is(err, ErrInvalidSecret) {
		t.Errorf("MACHex with odd secret: %v, want ErrInvalidSecret", err)
	}
}

func TestParseToken(t *testing.T) {
	hex40 := strings.Repeat("a", 40)
	tests := []struct {
		in   string
		want Token
		code string
		msg  string
	}{
		{"k1:" + hex40, Token{"k1", hex40}, "", ""},
		{"k1:" + strings.Repeat("A", 40), Token{"k1", strings.Repeat("A", 40)}, "", ""}, // shape only; never verifies
		{"k1:" + strings.Repeat(":", 40), Token{"k1", strings.Repeat(":", 40)}, "", ""}, // split at the first ':'
		{"", Token{}, "missing_token", "waitpoint: missing token"},
		{"abc", Token{}, "invalid_token", "waitpoint: invalid token: no ':' between kid and digest"},
		{":" + hex40, Token{}, "invalid_token", "waitpoint: invalid token: empty kid"},
		{"k1:", Token{}, "invalid_token", `waitpoint: invalid token: kid "k1": empty digest`},
		{"k1:abc", Token{}, "invalid_token", `waitpoint: invalid token: kid "k1": digest has 3 characters, want 40`},
		{"k1:" + hex40 + "0", Token{}, "invalid_token", `waitpoint: invalid token: kid "k1": digest has 41 characters, want 40`},
	}
	for _, tt := range tests {
		got, err := ParseToken(tt.in)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseToken(%q) (-want +got):\n%s", tt.in, diff)
		}
		if msg != tt.msg || ErrorCode(err) != tt.code {
			t.Errorf("ParseToken(%q): error %q (code %q), want %q (code %q)", tt.in, msg, ErrorCode(err), tt.msg, tt.code)
		}
	}
}

func TestKeyVerify(t *testing.T) {
	secret, _ := DecodeSecret(secret1)
	k := Key{KID: "k1", Secret: secret}
	b := Binding{WaitpointID: wpID, WaitpointKey: "wpk:test", CreatedAtMs: 1700000000000}
	good := k.Sign(b)
	if err := k.Verify(good, b); err != nil {
		t.Fatalf("Verify(own token): %v", err)
	}
	tests := []struct {
		name string
		tok  Token
		b    Binding
	}{
		{"other waitpoint id", good, Binding{"22222222-2222-2222-2222-222222222222", b.WaitpointKey, b.CreatedAtMs}},
		{"other key", good, Binding{b.WaitpointID, "wpk:other", b.CreatedAtMs}},
		{"other created_at", good, Binding{b.WaitpointID, b.WaitpointKey, b.CreatedAtMs + 1}},
		{"uppercase digest", Token{"k1", strings.ToUpper(good.Digest)}, b},
		{"other kid", Token{"k2", good.Digest}, b},
		{"zero digest", Token{"k1", strings.Repeat("0", 40)}, b},
	}
	for _, tt := range tests {
		err := k.Verify(tt.tok, tt.b)
		if !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Verify = %v, want ErrInvalidToken", tt.name, err)
		}
		if err != nil && strings.Contains(err.Error(), good.Digest) {
			t.Errorf("%s: error echoes the digest: %v", tt.name, err)
		}
	}
}

func TestTokenLogValueRedacts(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	tok := Token{KID: "k1", Digest: "62f98bf08c9e335d409a0484757fd1c8f9804ad8"}
	log.Info("deliver", "token", tok)
	if strings.Contains(buf.String(), tok.Digest) || !strings.Contains(buf.String(), "k1:[redacted]") {
		t.Errorf("slog output %q leaks or lacks the redacted token", buf.String())
	}
}

func TestErrorCode(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("other"), ""},
		{ErrMissingToken, "missing_token"},
		{ErrInvalidToken, "invalid_token"},
		{ErrTokenExpired, "token_expired"},
		{ErrSecretNotInitialized, "hmac_secret_not_initialized"},
		{ErrInvalidSecret, "invalid_secret"},
		{ErrInvalidKID, "invalid_kid"},
		{errors.Join(ErrInvalidKeyring, ErrInvalidKID), "invalid_kid"},
	}
	for _, tt := range tests {
		if got := ErrorCode(tt.err); got != tt.want {
			t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// FuzzParseToken: never panics; an accepted token round-trips through
// String; every rejection is missing_token or invalid_token.
func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"", "k1:" + strings.Repeat("a", 40), "abc", ":x", "k1:", "k:1:2", "k1:" + strings.Repeat("a", 41)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if c := ErrorCode(err); c != "missing_token" && c != "invalid_token" {
				t.Fatalf("ParseToken(%q): code %q", s, c)
			}
			if tok != (Token{}) {
				t.Fatalf("ParseToken(%q): non-zero token with an error", s)
			}
			return
		}
		if tok.String() != s || tok.KID == "" || strings.Contains(tok.KID, ":") || len(tok.Digest) != DigestLen {
			t.Fatalf("ParseToken(%q) = %#v", s, tok)
		}
	})
}
