# Cores: precision at most max_precision (outside precision_exempt_stacks), memory_size in bounds.
package main

import rego.v1

# The value a create or an update sets a field to.
set_values(kind, path) := {[change.address, field.after] |
	some change in input.changes
	change.kind == kind
	change.action in {"create", "update", "replace"}
	some field in change.fields
	field.path == path
	not field.sensitive
	not field.after_unknown
}

deny_core_precision contains msg if {
	not input.reconciler.stack in precision_exempt_stacks
	some [address, precision] in set_values("cores", "precision")
	precision > max_precision
	msg := sprintf("%s: precision %v is above %v", [address, precision, max_precision])
}

deny_core_memory contains msg if {
	some [address, size] in set_values("cores", "memory_size")
	not size_in_bounds(size)
	msg := sprintf("%s: memory_size %v is outside %v..%v", [address, size, min_memory_size, max_memory_size])
}

size_in_bounds(size) if {
	size >= min_memory_size
	size <= max_memory_size
}
