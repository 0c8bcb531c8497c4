"""Examples and exit codes at the end of each command's ``--help``, in one place, so that every
command says them the same way (the README's "Commands" section and docs/commands.md say the same).

``\\b`` tells click not to rewrap the paragraph that follows: commands stay on their own lines.
"""

from __future__ import annotations

import click

__all__ = ["add_epilogs"]

_OK_ERROR = "0 success; 1 any error (usage errors included)."
_CHANGES = (
    "0 no changes (or without --detailed-exitcode); 2 changes present (--detailed-exitcode); 1 error, "
    "or a policy denies the plan."
)
_DRIFT = (
    "0 in sync; 2 drifted or pending changes; 1 error, or a policy denies the changes (with --stacks: "
    "any stack errored or denied; 1 wins over 2)."
)
_APPLY = (
    "0 everything done and checked; 1 an action failed, the check after it found a difference, or refused."
)

# command path (as typed after `reconciler`) -> (examples, exit codes)
EPILOGS: dict[str, tuple[tuple[str, ...], str]] = {
    "validate": (
        ("reconciler validate -f stacks/prod", "reconciler validate -f base.yaml -f prod.yaml"),
        _OK_ERROR,
    ),
    "plan": (
        (
            "reconciler plan --sandbox -f examples/quickstart",
            "reconciler plan -f stacks/prod --format markdown --out plan.json",
            "reconciler plan -f stacks/prod --detailed-exitcode || [ $? -eq 2 ]",
        ),
        _CHANGES,
    ),
    "apply": (
        (
            "reconciler apply --sandbox --auto-approve -f examples/quickstart",
            "reconciler apply -f stacks/prod plan.json        # exactly the reviewed plan",
            "reconciler apply -f stacks/prod --target cores.fast-athens",
        ),
        _APPLY,
    ),
    "destroy": (
        (
            "reconciler destroy --sandbox --auto-approve -f examples/quickstart",
            "reconciler destroy -f stacks/dev --exclude webhooks",
        ),
        _APPLY,
    ),
    "drift": (
        (
            'reconciler drift -f stacks/prod --format json --notify "$DRIFT_WEBHOOK_URL"',
            "reconciler drift --stacks stacks/ --format html > fleet.html",
            "reconciler drift --stacks stacks/ --shard $JOB_COMPLETION_INDEX/4 --format json > shard.json",
        ),
        _DRIFT,
    ),
    "import": (("reconciler import -f stacks/prod cores.fast-athens cor_0123abcd",), _OK_ERROR),
    "export": (
        ("reconciler export --sandbox > stack.yaml", "reconciler export -f stacks/prod --kind cores"),
        _OK_ERROR,
    ),
    "state": (
        ("reconciler state list -f stacks/prod", "reconciler state show -f stacks/prod cores.a"),
        _OK_ERROR,
    ),
    "state list": (("reconciler state list -f stacks/prod",), _OK_ERROR),
    "state show": (("reconciler state show -f stacks/prod cores.fast-athens",), _OK_ERROR),
    "state rm": (("reconciler state rm -f stacks/prod cores.fast-athens",), _OK_ERROR),
    "schema": (("reconciler schema > stack.schema.json",), _OK_ERROR),
    "sandbox": (("reconciler sandbox serve --port 8787",), _OK_ERROR),
    "sandbox serve": (
        (
            "reconciler sandbox serve",
            "reconciler sandbox serve --latency-ms 50 --rate-limit 100 --max-inflight 16",
            "reconciler sandbox serve --fault-rate 0.2 --fault-seed 7 --data-dir /tmp/sandbox",
        ),
        "0 stopped with Ctrl-C; 1 the address cannot be used (or is not loopback without --allow-remote).",
    ),
    "report": (("reconciler report merge shard-*.json --format html > fleet.html",), _DRIFT),
    "report merge": (
        ("reconciler report merge shard-0.json shard-1.json --format markdown",),
        "0 in sync; 2 drifted or pending changes; 1 a stack errored or was denied by a policy, or a shard's "
        "report is missing.",
    ),
    "policy": (
        ("reconciler policy test examples/policy",),
        "0 every test passed / no denial; 1 a denial, a failed test or an error.",
    ),
    "policy test": (
        ("reconciler policy test examples/policy",),
        "0 every case and test_ rule passed; 1 one failed, or a policy does not load.",
    ),
    "policy eval": (
        ("reconciler policy eval plan.json --policy examples/policy --format markdown",),
        "0 no policy denies the plan; 1 one does, or a policy does not load (never a pass).",
    ),
    "watch": (
        (
            "reconciler watch --stacks examples/fleet --interval 5m",
            "reconciler watch --stacks stacks/ --sync --heal --listen 127.0.0.1:9464",
        ),
        "0 stopped by SIGTERM or Ctrl-C (it runs until then); 1 it cannot start (a usage error, an error).",
    ),
    "completion": (
        (
            "reconciler completion bash > ~/.local/share/bash-completion/completions/reconciler",
            'reconciler completion zsh > "${fpath[1]}/_reconciler"',
            "reconciler completion fish > ~/.config/fish/completions/reconciler.fish",
        ),
        _OK_ERROR,
    ),
}


def _epilog(examples: tuple[str, ...], exit_codes: str) -> str:
    lines = "\n".join(f"  {e}" for e in examples)
    return f"\b\nExamples:\n{lines}\n\n\b\nExit codes: {exit_codes}"


def add_epilogs(group: click.Group, prefix: str = "") -> None:
    """Give every command under ``group`` (recursively) its examples and exit codes."""
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if path in EPILOGS:
            command.epilog = _epilog(*EPILOGS[path])
        if isinstance(command, click.Group):
            add_epilogs(command, prefix=f"{path} ")
