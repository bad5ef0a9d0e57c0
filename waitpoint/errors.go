package waitpoint

import "errors"

// codeError is a sentinel error that carries the library's wire error code.
type codeError struct{ code, text string }

func (e *codeError) Error() string { return "waitpoint: " + e.text }

// Sentinel errors. Each corresponds to the error code the flowfabric library
// returns for the same failure; ErrorCode maps an error back to that code.
// Errors returned by this package wrap one of these with details that name
// the bad input but never echo a secret or a digest.
var (
	// ErrMissingToken: the presented token is empty ("missing_token").
	ErrMissingToken error = &codeError{"missing_token", "missing token"}
	// ErrInvalidToken: the token is malformed, names an unknown kid, or its
	// digest does not match ("invalid_token").
	ErrInvalidToken error = &codeError{"invalid_token", "invalid token"}
	// ErrTokenExpired: the token's kid is a retired kid whose expiry has
	// passed or is missing or malformed ("token_expired").
	ErrTokenExpired error = &codeError{"token_expired", "token expired"}
	// ErrSecretNotInitialized: the keystore is empty, has no current kid,
	// or (for signing) no secret for it ("hmac_secret_not_initialized").
	ErrSecretNotInitialized error = &codeError{"hmac_secret_not_initialized", "hmac secret not initialized"}
	// ErrInvalidSecret: a stored secret is not valid hex ("invalid_secret").
	ErrInvalidSecret error = &codeError{"invalid_secret", "invalid secret"}
	// ErrInvalidKID: a kid is empty or contains ':' ("invalid_kid").
	ErrInvalidKID error = &codeError{"invalid_kid", "invalid kid"}
)

// ErrorCode returns the library's wire error code for an error of this
// package ("invalid_token", "token_expired", ...), or "" for nil and for
// errors that are not the package's.
func ErrorCode(err error) string {
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	return ""
}
