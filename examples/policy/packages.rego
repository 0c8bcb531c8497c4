# Steamship package instances name their package version (no "latest at creation").
package main

import rego.v1

deny_unpinned_package contains msg if {
	some change in writes.package_instances
	change.action in {"create", "replace"}
	not pinned(change)
	msg := sprintf("%s: pin the package version (version: \"1.2.0\")", [change.address])
}

pinned(change) if {
	some field in change.fields
	field.path == "version"
	is_string(field.after)
	field.after != ""
}
