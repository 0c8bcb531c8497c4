#!/usr/bin/env bash
# Smoke-test the built wheel, not the editable checkout: build it from the tracked files, install it
# into a fresh virtualenv, and run what a new user runs first, from a folder outside the checkout.
#
#   bash .ci/wheel-smoke.sh [PYTHON]     # default: python3 (.ci/run passes the oldest supported one)
#
# The wheel is found by globbing (the distribution name is not written here). Everything runs in a
# temp dir, removed at the end; nothing in the checkout is touched. Fails, saying which step, on the
# first command that does not do what it should.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${1:-python3}"
started=$SECONDS
work=$(mktemp -d /tmp/reconciler-wheel.XXXXXX)
trap 'rm -rf "$work"' EXIT

fail() { echo "wheel-smoke: FAILED: $*" >&2; exit 1; }

echo "== wheel: build from the tracked files (a clean copy: no stale build/ can leak in)"
mkdir -p "$work/src" "$work/dist" "$work/run" "$work/home"
git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
    | (cd "$ROOT" && tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$work/src"
"$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$work/dist" "$work/src" \
    || fail "pip wheel could not build the project"
wheels=("$work"/dist/*.whl)
[ "${#wheels[@]}" = 1 ] && [ -f "${wheels[0]}" ] || fail "expected one wheel, found: ${wheels[*]}"
echo "built $(basename "${wheels[0]}") ($(du -k "${wheels[0]}" | cut -f1) KiB)"

echo "== wheel: install into a fresh virtualenv"
"$PY" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "${wheels[0]}" \
    || fail "pip could not install the wheel"

# A new user's shell: only the venv on PATH, no credentials, a folder outside the checkout.
run() { (cd "$work/run" && env -i PATH="$work/venv/bin:/usr/bin:/bin" HOME="$work/home" LANG=C.UTF-8 "$@"); }

where=$(run python -c 'import reconciler; print(reconciler.__file__)')
case "$where" in
    "$work/venv/"*) echo "imports reconciler from $where" ;;
    *) fail "reconciler was imported from $where, not from the installed wheel" ;;
esac

echo "== wheel: reconciler --version"
run reconciler --version || fail "reconciler --version"

echo "== wheel: reconciler schema (must equal schemas/stack.schema.json)"
run reconciler schema >"$work/schema.json" || fail "reconciler schema"
cmp -s "$work/schema.json" "$ROOT/schemas/stack.schema.json" \
    || fail "reconciler schema from the wheel differs from schemas/stack.schema.json"
echo "schema: $(wc -c <"$work/schema.json") bytes, same as schemas/stack.schema.json"

echo "== wheel: the quickstart (a copy of examples/quickstart)"
cp -R "$ROOT/examples/quickstart" "$work/run/quickstart"
rm -rf "$work/run/quickstart/.reconciler"
run reconciler validate -f quickstart || fail "reconciler validate -f quickstart"
out=$(run reconciler apply --sandbox --auto-approve -f quickstart) || { echo "$out"; fail "quickstart apply"; }
echo "$out" | tail -n 3
grep -q "Apply complete! Resources: 4 added" <<<"$out" || fail "the quickstart apply did not add 4 resources"
set +e
run reconciler plan --sandbox -f quickstart --detailed-exitcode >"$work/plan.txt"
code=$?
set -e
[ "$code" = 0 ] || { cat "$work/plan.txt"; fail "plan after apply exited $code, expected 0 (no changes)"; }
echo "plan after apply: no changes (exit 0)"
echo "== wheel smoke test passed in $((SECONDS - started))s"
