package waitpoint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowfabric/ffgo/keyspace"
	"github.com/valkey-io/valkey-go"
)

// Field names of the keystore hash ff:sec:{fp:N}:waitpoint_hmac.
const (
	FieldCurrentKID        = "current_kid"
	FieldPreviousKID       = "previous_kid"        // audit only
	FieldPreviousExpiresAt = "previous_expires_at" // audit only
	SecretFieldPrefix      = "secret:"             // + kid: hex secret
	ExpiresAtFieldPrefix   = "expires_at:"         // + kid: expiry ms of a retired kid
)

// Keyring is the waitpoint HMAC keystore of one partition: the current kid,
// used to sign, and retired kids that still verify until their own expiry.
// Build one with ParseKeyring or ReadKeyring. Like the library, a Keyring
// checks entries when they are used, so one malformed retired kid does not
// break the others; Validate reports every problem at once.
type Keyring struct {
	currentKID string
	secrets    map[string]string // kid -> hex secret as stored
	expiries   map[string]string // kid -> expires_at as stored

	// PreviousKID and PreviousExpiresAt are the audit fields written by the
	// last rotation. Verification does not use them.
	PreviousKID       string
	PreviousExpiresAt string
}

// ParseKeyring reads a keystore from its hash fields (an HGETALL reply).
// Unknown fields are ignored, and a field whose value is "" counts as absent
// (the library's rule: a value is set when it is not empty). It never fails: problems surface when a kid is
// used (as the library's error codes) and from Validate.
func ParseKeyring(fields map[string]string) Keyring {
	r := Keyring{secrets: map[string]string{}, expiries: map[string]string{}}
	for f, v := range fields {
		switch {
		case f == FieldCurrentKID:
			r.currentKID = v
		case f == FieldPreviousKID:
			r.PreviousKID = v
		case f == FieldPreviousExpiresAt:
			r.PreviousExpiresAt = v
		case v == "":
			// An empty value counts as absent, as in the library.
		case strings.HasPrefix(f, SecretFieldPrefix):
			r.secrets[f[len(SecretFieldPrefix):]] = v
		case strings.HasPrefix(f, ExpiresAtFieldPrefix):
			r.expiries[f[len(ExpiresAtFieldPrefix):]] = v
		}
	}
	return r
}

// ReadKeyring reads partition p's keystore (HGETALL ff:sec:{fp:N}:waitpoint_hmac).
// A missing hash gives an empty Keyring, whose use fails with
// ErrSecretNotInitialized. The error is the transport's and names the key.
func ReadKeyring(ctx context.Context, client valkey.CommandClient, p keyspace.Partition) (Keyring, error) {
	key := p.HMACSecrets()
	fields, err := client.Do(ctx, client.B().Hgetall().Key(key).Build()).AsStrMap()
	if err != nil {
		return Keyring{}, fmt.Errorf("waitpoint: HGETALL %s: %w", key, err)
	}
	return ParseKeyring(fields), nil
}

// CurrentKID returns the kid used for signing, or "" when none is set.
func (r Keyring) CurrentKID() string { return r.currentKID }

// Current returns the signing key (suspend-signal §4.3): no current kid or no
// secret for it is ErrSecretNotInitialized, a malformed secret
// ErrInvalidSecret.
func (r Keyring) Current() (Key, error) {
	if r.currentKID == "" {
		return Key{}, fmt.Errorf("%w: no %s", ErrSecretNotInitialized, FieldCurrentKID)
	}
	hexSecret, ok := r.secrets[r.currentKID]
	if !ok {
		return Key{}, fmt.Errorf("%w: no secret for current kid %s", ErrSecretNotInitialized, quoteShort(r.currentKID))
	}
	return decodeKey(r.currentKID, hexSecret)
}

// Sign returns the token of binding b under the current kid.
func (r Keyring) Sign(b Binding) (Token, error) {
	k, err := r.Current()
	if err != nil {
		return Token{}, err
	}
	return k.Sign(b), nil
}

// Lookup returns the key that verifies tokens of kid at time now
// (suspend-signal §4.4 steps 5-7):
//   - no current kid: ErrSecretNotInitialized;
//   - the current kid: its secret (missing: ErrInvalidToken);
//   - a retired kid with a secret: valid while its expires_at is a positive
//     decimal integer >= now in ms; missing, malformed, <= 0 or past is
//     ErrTokenExpired;
//   - any other kid: ErrInvalidToken;
//   - a secret that is not valid hex: ErrInvalidSecret.
func (r Keyring) Lookup(kid string, now time.Time) (Key, error) {
	if r.currentKID == "" {
		return Key{}, fmt.Errorf("%w: no %s", ErrSecretNotInitialized, FieldCurrentKID)
	}
	hexSecret, ok := r.secrets[kid]
	if kid == r.currentKID {
		if !ok {
			return Key{}, fmt.Errorf("%w: no secret for current kid %s", ErrInvalidToken, quoteShort(kid))
		}
		return decodeKey(kid, hexSecret)
	}
	if !ok {
		return Key{}, fmt.Errorf("%w: unknown kid %s", ErrInvalidToken, quoteShort(kid))
	}
	raw, ok := r.expiries[kid]
	if !ok {
		return Key{}, fmt.Errorf("%w: retired kid %s has no expiry", ErrTokenExpired, quoteShort(kid))
	}
	expiresAt, ok := parseExpiry(raw)
	if !ok {
		return Key{}, fmt.Errorf("%w: retired kid %s has malformed expiry %s", ErrTokenExpired, quoteShort(kid), quoteShort(raw))
	}
	if expiresAt < now.UnixMilli() {
		return Key{}, fmt.Errorf("%w: kid %s expired at %d ms, now %d ms", ErrTokenExpired, quoteShort(kid), expiresAt, now.UnixMilli())
	}
	return decodeKey(kid, hexSecret)
}

// Verify checks a presented token against binding b at time now in the
// library's order (suspend-signal §4.4): empty token ErrMissingToken,
// malformed ErrInvalidToken, then the kid's key as Lookup finds it, then a
// constant-time comparison of the digest (ErrInvalidToken on mismatch).
// ErrorCode of the result is the code ff_deliver_signal returns for the same
// inputs.
func (r Keyring) Verify(token string, b Binding, now time.Time) error {
	t, err := ParseToken(token)
	if err != nil {
		return err
	}
	k, err := r.Lookup(t.KID, now)
	if err != nil {
		return err
	}
	return k.Verify(t, b)
}

// RetiredKey is a non-current kid and its expiry.
type RetiredKey struct {
	KID         string
	ExpiresAtMs int64
}

// Retired lists the retired kids that still verify at now, sorted by kid:
// those with a secret and a valid expiry >= now (what
// ff_list_waitpoint_hmac_kids lists).
func (r Keyring) Retired(now time.Time) []RetiredKey {
	var out []RetiredKey
	for kid, raw := range r.expiries {
		if kid == r.currentKID {
			continue
		}
		if _, ok := r.secrets[kid]; !ok {
			continue
		}
		if at, ok := parseExpiry(raw); ok && at >= now.UnixMilli() {
			out = append(out, RetiredKey{KID: kid, ExpiresAtMs: at})
		}
	}
	slices.SortFunc(out, func(a, b RetiredKey) int { return strings.Compare(a.KID, b.KID) })
	return out
}

// ErrInvalidKeyring matches (errors.Is) every problem Validate reports.
var ErrInvalidKeyring = errors.New("waitpoint: invalid keystore")

// Validate reports every problem of the keystore, joined (errors.Join), each
// matching ErrInvalidKeyring and, where one applies, the error a use of the
// entry returns (ErrSecretNotInitialized, ErrInvalidKID, ErrInvalidSecret,
// ErrTokenExpired): no current kid or no secret for it, kids that
// are empty or contain ':', secrets that are not valid hex, a current kid
// with an expiry (rotation never writes one), retired kids without a valid
// expiry (they can never verify). Secrets are never echoed. It returns nil
// for a usable keystore.
func (r Keyring) Validate() error {
	var errs []error
	problem := func(cause error, format string, args ...any) {
		errs = append(errs, &keyringError{
			msg:   ErrInvalidKeyring.Error() + ": " + fmt.Sprintf(format, args...),
			cause: cause,
		})
	}
	if r.currentKID == "" {
		problem(ErrSecretNotInitialized, "no %s", FieldCurrentKID)
	} else if _, ok := r.secrets[r.currentKID]; !ok {
		problem(ErrSecretNotInitialized, "no %s field for the current kid", SecretFieldPrefix+r.currentKID)
	}
	for _, kid := range sortedKeys(r.secrets) {
		if kid == "" {
			problem(ErrInvalidKID, "field %q: empty kid", SecretFieldPrefix)
			continue
		}
		if strings.Contains(kid, ":") {
			problem(ErrInvalidKID, "kid %s contains ':'", quoteShort(kid))
			continue
		}
		if _, reason := decodeSecret(r.secrets[kid]); reason != "" {
			problem(ErrInvalidSecret, "kid %s: secret is not valid hex: %s", quoteShort(kid), reason)
		}
		raw, hasExpiry := r.expiries[kid]
		switch {
		case kid == r.currentKID && hasExpiry:
			problem(nil, "current kid %s has an %s field", quoteShort(kid), ExpiresAtFieldPrefix+kid)
		case kid != r.currentKID && !hasExpiry:
			problem(ErrTokenExpired, "retired kid %s has no %s field and can never verify", quoteShort(kid), ExpiresAtFieldPrefix+kid)
		case kid != r.currentKID:
			if _, ok := parseExpiry(raw); !ok {
				problem(ErrTokenExpired, "retired kid %s: expiry %s is not a positive decimal integer", quoteShort(kid), quoteShort(raw))
			}
		}
	}
	return errors.Join(errs...)
}

// keyringError is one problem found by Validate. It matches
// ErrInvalidKeyring and, when set, the error a use of the entry would return.
type keyringError struct {
	msg   string
	cause error
}

func (e *keyringError) Error() string { return e.msg }

func (e *keyringError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrInvalidKeyring}
	}
	return []error{ErrInvalidKeyring, e.cause}
}

func decodeKey(kid, hexSecret string) (Key, error) {
	secret, reason := decodeSecret(hexSecret)
	if reason != "" {
		return Key{}, fmt.Errorf("%w: kid %s: %s", ErrInvalidSecret, quoteShort(kid), reason)
	}
	return Key{KID: kid, Secret: secret}, nil
}

// parseExpiry accepts a positive decimal integer without sign or spaces.
func parseExpiry(raw string) (int64, bool) {
	if raw == "" || raw[0] < '0' || raw[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
