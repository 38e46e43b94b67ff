package tokenservice

import (
	"bytes"
	_ "embed"
)

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI 3.1 document (JSON) of the Service's
// endpoints, relative to where it is mounted: their parameters, bodies,
// answers and error codes, for an API gateway, a client generator or a
// reader. A test holds the Service's real answers against it.
func OpenAPI() []byte { return bytes.Clone(openAPIDocument) }
