# At most max_deletes deletes (replacements included) in one plan (settings.rego).
package main

import rego.v1

deny_too_many_deletes contains msg if {
	count(destructive) > max_deletes
	msg := sprintf("this plan deletes or replaces %d resources; at most %d in one plan", [count(destructive), max_deletes])
}
