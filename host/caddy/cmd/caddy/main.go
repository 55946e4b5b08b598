// Command caddy is a Caddy v2 binary with onboard's http.handlers.onboard
// module (Caddyfile directive `onboard`) built in: `go build ./cmd/caddy`
// in this module replaces xcaddy.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules, as in the official build.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/onboardhq/onboard/host/caddy"
)

func main() {
	caddycmd.Main()
}
