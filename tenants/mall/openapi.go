package mall

import _ "embed"

// OpenAPI is the fragment describing the mall, coupon, exchange-code and
// lottery routes; main merges it into the served document.
//
//go:embed openapi.json
var OpenAPI []byte
