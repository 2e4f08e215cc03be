package auth

import "encoding/base32"

// b32 is the secret encoding of otpauth URIs: base32 without padding.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)
