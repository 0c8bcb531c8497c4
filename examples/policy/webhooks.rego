# Webhooks deliver over https, to allowed_webhook_hosts only (settings.rego).
package main

import rego.v1

webhook_urls contains [change.address, field] if {
	some change in input.changes
	change.kind == "webhooks"
	change.action in {"create", "update", "replace"}
	some field in change.fields
	field.path == "url"
}

deny_webhook_url contains msg if {
	some [address, field] in webhook_urls
	not field.sensitive
	not startswith(field.after, "https://")
	msg := sprintf("%s: the webhook URL must use https", [address])
}

deny_webhook_url contains msg if {
	some [address, field] in webhook_urls
	not field.sensitive
	host := webhook_host(field.after)
	not host in allowed_webhook_hosts
	msg := concat("", [address, ": webhook host ", host, " is not allowed"])
}

# A URL from a secret (${env:…}) is masked in the plan: it cannot be checked, so say so.
warn_webhook_url contains msg if {
	some [address, field] in webhook_urls
	field.sensitive
	msg := sprintf("%s: the webhook URL is a secret and was not checked", [address])
}

webhook_host(url) := host if {
	rest := split(url, "://")[1]
	authority := split(rest, "/")[0]
	host := lower(split(authority, ":")[0])
}
