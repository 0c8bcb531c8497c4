# What the rules share: the plan's changes sorted once, so that each rule reads only its part.
# (rego-cpp evaluates a rule's body once per iteration: a rule scanning all 2,000 changes of a
# large plan costs tenths of a second, a rule reading its kind's share a fraction of that.)
package main

import rego.v1

# Creates, updates and replaces, by kind: what the API will hold after apply.
writes := {kind: [change |
	some change in input.changes
	change.kind == kind
	change.action in {"create", "update", "replace"}
] |
	some kind in {change.kind | some change in input.changes}
}

# Deletes and replaces: what apply destroys.
destructive := [change |
	some change in input.changes
	change.action in {"delete", "replace"}
]

resource_name(change) := substring(change.address, count(change.kind) + 1, -1)
