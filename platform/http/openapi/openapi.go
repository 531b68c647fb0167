// Package openapi holds the OpenAPI fragment of the platform's own routes
// (health, auth, tenants, settings, staff, API keys, audit).
package openapi

import _ "embed"

// Platform is the fragment of the platform's routes.
//
//go:embed platform.json
var Platform []byte
