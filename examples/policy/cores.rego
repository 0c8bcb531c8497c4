# Cores: precision at most max_precision (outside precision_exempt_stacks), memory_size in bounds.
package main

import rego.v1

deny_core_precision contains msg if {
	not input.reconciler.stack in precision_exempt_stacks
	some change in writes.cores
	some field in change.fields
	field.path == "precision"
	not field.sensitive
	field.after > max_precision
	msg := sprintf("%s: precision %v is above %v", [change.address, field.after, max_precision])
}

deny_core_memory contains msg if {
	some change in writes.cores
	some field in change.fields
	field.path == "memory_size"
	not field.sensitive
	not size_in_bounds(field.after)
	msg := sprintf("%s: memory_size %v is outside %v..%v", [change.address, field.after, min_memory_size, max_memory_size])
}

size_in_bounds(size) if {
	size >= min_memory_size
	size <= max_memory_size
}
