# No delete or replace of a resource whose name matches protected_names (settings.rego).
package main

import rego.v1

deny_protected contains msg if {
	some change in destructive
	some pattern in protected_names
	glob.match(pattern, [], resource_name(change))
	msg := sprintf("%s is protected: no delete or replace", [change.address])
}
