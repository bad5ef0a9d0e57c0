// Package fcall is the small hand-written runtime under the generated ffscripts package:
// it decodes the library's reply tuples, carries its error codes as Go errors, encodes
// typed arguments, and loads the library onto every primary of a deployment.
//
// Generated code depends on it; user code mostly meets *Error through errors.As.
package fcall

// SupportsGeneratedV1 is referenced by generated code so that a generated package built
// against an incompatible runtime fails to compile instead of misbehaving.
const SupportsGeneratedV1 = true
