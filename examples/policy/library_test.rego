# OPA-style unit tests of the library's helpers. Plans are tested as data (tests/*.yaml): rego-cpp
# crashes on a rule that calls a builtin evaluated `with input as …` (docs/policy.md).
package main

import rego.v1

test_resource_name_is_what_follows_the_kind if {
	resource_name({"address": "cores.prod.eu-1", "kind": "cores"}) == "prod.eu-1"
}

test_webhook_host_drops_port_and_path if {
	webhook_host("https://CI.example.com:8443/hook?x=1") == "ci.example.com"
}

test_memory_bounds if {
	size_in_bounds(256000)
	not size_in_bounds(1000)
}
