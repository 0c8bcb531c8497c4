# The library's settings, as data: edit them here (one place) for your organisation.
package main

import rego.v1

# Resources whose names match one of these glob patterns are never deleted or replaced.
protected_names := ["prod-*", "*-prod"]

# Cores: precision at most max_precision, except in the stacks named here.
max_precision := 256

precision_exempt_stacks := {"research"}

# Cores: memory_size within these bounds (bytes).
min_memory_size := 32000

max_memory_size := 512000000

# Webhooks deliver only to these hosts (and only over https).
allowed_webhook_hosts := {"hooks.example.com", "ci.example.com"}

# At most this many deletes (replacements included) in one plan.
max_deletes := 10
