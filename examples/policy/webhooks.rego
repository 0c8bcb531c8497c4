# Webhooks deliver over https, to allowed_webhook_hosts only (settings.rego).
package main

import rego.v1

deny_webhook_url contains msg if {
	some change in writes.webhooks
	some field in change.fields
	field.path == "url"
	not field.sensitive
	not startswith(field.after, "https://")
	msg := sprintf("%s: the webhook URL must use https", [change.address])
}

deny_webhook_url contains msg if {
	some change in writes.webhooks
	some field in change.fields
	field.path == "url"
	not field.sensitive
	host := webhook_host(field.after)
	not host in allowed_webhook_hosts
	msg := concat("", [change.address, ": webhook host ", host, " is not allowed"])
}

# A URL from a secret (${env:…}) is masked in the plan: it cannot be checked, so say so.
warn_webhook_url contains msg if {
	some change in writes.webhooks
	some field in change.fields
	field.path == "url"
	field.sensitive
	msg := sprintf("%s: the webhook URL is a secret and was not checked", [change.address])
}

webhook_host(url) := host if {
	rest := split(url, "://")[1]
	authority := split(rest, "/")[0]
	host := lower(split(authority, ":")[0])
}
