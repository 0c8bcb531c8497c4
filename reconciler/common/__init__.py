"""Leaf helpers any layer may import (they import nothing of the reconciler): ``redact`` keeps
secrets out of logs, ``paths`` resolves paths with one outcome on every Python and writes files atomically."""
