package waitpoint

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// DigestLen is the length of a token's digest: 40 lowercase hex characters
// (HMAC-SHA1).
const DigestLen = 40

// Binding is what a waitpoint token binds: the waitpoint id, its key and the
// creation time (ms) stored in the waitpoint hash's created_at field. For a
// pending waitpoint it is the pending creation time, kept through
// activation.
type Binding struct {
	WaitpointID  string
	WaitpointKey string
	CreatedAtMs  int64
}

// Message returns the signed message "<waitpoint_id>|<waitpoint_key>|<created_at_ms>",
// created_at_ms in decimal.
func (b Binding) Message() string {
	return b.WaitpointID + "|" + b.WaitpointKey + "|" + strconv.FormatInt(b.CreatedAtMs, 10)
}

// MAC returns HMAC-SHA1(secret, message) as 40 lowercase hex characters.
// Secrets longer than 64 bytes are first hashed with SHA-1, per RFC 2104.
func MAC(secret []byte, message string) string {
	m := hmac.New(sha1.New, secret)
	m.Write([]byte(message))
	return hex.EncodeToString(m.Sum(nil))
}

// MACHex is MAC with the secret given in hex, as the keystore stores it and
// as the library's Lua helper takes it. A malformed secret is an error
// matching ErrInvalidSecret, never coerced.
func MACHex(secretHex, message string) (string, error) {
	secret, err := DecodeSecret(secretHex)
	if err != nil {
		return "", err
	}
	return MAC(secret, message), nil
}

// DecodeSecret decodes a hex secret (either case). It refuses an empty
// string, an odd length and any non-hex character with an error matching
// ErrInvalidSecret that gives the position but not the secret.
func DecodeSecret(secretHex string) ([]byte, error) {
	secret, reason := decodeSecret(secretHex)
	if reason != "" {
		return nil, fmt.Errorf("%w: %s", ErrInvalidSecret, reason)
	}
	return secret, nil
}

// decodeSecret returns the decoded secret or a reason it is malformed.
func decodeSecret(secretHex string) ([]byte, string) {
	if secretHex == "" {
		return nil, "empty"
	}
	if len(secretHex)%2 != 0 {
		return nil, fmt.Sprintf("odd length %d", len(secretHex))
	}
	for i := 0; i < len(secretHex); i++ {
		if !isHex(secretHex[i]) {
			return nil, fmt.Sprintf("non-hex character at offset %d", i)
		}
	}
	secret, err := hex.DecodeString(secretHex)
	if err != nil { // unreachable after the checks above
		return nil, err.Error()
	}
	return secret, ""
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Token is a waitpoint token "<kid>:<digest>".
type Token struct {
	KID    string // key id, non-empty, no ':'
	Digest string // 40 characters; lowercase hex when minted
}

// String returns the wire form "<kid>:<digest>". The token is a bearer
// credential for signal delivery: log it with slog (LogValue redacts the
// digest), not with String.
func (t Token) String() string { return t.KID + ":" + t.Digest }

// LogValue renders the token for log/slog with its digest redacted.
func (t Token) LogValue() slog.Value {
	return slog.StringValue(t.KID + ":[redacted]")
}

// ParseToken splits a token at its first ':' and checks its shape exactly as
// the library does (suspend-signal §4.4 steps 2-4): empty is ErrMissingToken;
// no ':', an empty kid, an empty digest or a digest that is not 40
// characters long is ErrInvalidToken. The digest's characters are not
// checked here: one that is not lowercase hex never verifies, and leaving it
// to Verify keeps the library's order of error codes.
func ParseToken(s string) (Token, error) {
	if s == "" {
		return Token{}, ErrMissingToken
	}
	kid, digest, found := strings.Cut(s, ":")
	switch {
	case !found:
		return Token{}, fmt.Errorf("%w: no ':' between kid and digest", ErrInvalidToken)
	case kid == "":
		return Token{}, fmt.Errorf("%w: empty kid", ErrInvalidToken)
	case digest == "":
		return Token{}, fmt.Errorf("%w: kid %s: empty digest", ErrInvalidToken, quoteShort(kid))
	case len(digest) != DigestLen:
		return Token{}, fmt.Errorf("%w: kid %s: digest has %d characters, want %d",
			ErrInvalidToken, quoteShort(kid), len(digest), DigestLen)
	}
	return Token{KID: kid, Digest: digest}, nil
}

// Key is one keystore entry: a kid and its decoded secret.
type Key struct {
	KID    string
	Secret []byte
}

// Sign returns the token of binding b under k: "<kid>:" + MAC(secret, b.Message()).
func (k Key) Sign(b Binding) Token {
	return Token{KID: k.KID, Digest: MAC(k.Secret, b.Message())}
}

// Verify checks t against binding b under k in constant time (the
// comparison is case-sensitive: an uppercase digest fails). A different kid
// or digest is ErrInvalidToken.
func (k Key) Verify(t Token, b Binding) error {
	if t.KID != k.KID {
		return fmt.Errorf("%w: kid %s, want %s", ErrInvalidToken, quoteShort(t.KID), quoteShort(k.KID))
	}
	want := MAC(k.Secret, b.Message())
	if !hmac.Equal([]byte(want), []byte(t.Digest)) {
		return fmt.Errorf("%w: kid %s: digest does not match waitpoint %s",
			ErrInvalidToken, quoteShort(t.KID), quoteShort(b.WaitpointID))
	}
	return nil
}

// quoteShort quotes s for an error message, cutting long input.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
