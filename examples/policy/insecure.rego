# No provider allows plain http:// to a remote host (providers.*.http.allow_insecure_http).
package main

import rego.v1

deny_insecure_http contains msg if {
	some name, provider in input.reconciler.providers
	provider.http.allow_insecure_http == true
	msg := sprintf("providers.%s.http.allow_insecure_http must not be set", [name])
}

deny_insecure_http contains msg if {
	some hub, settings in input.reconciler.providers.scramjet.hubs
	settings.http.allow_insecure_http == true
	msg := sprintf("providers.scramjet.hubs.%s.http.allow_insecure_http must not be set", [hub])
}
