"""--target / --exclude (engine/deciding/select.py): a narrowed plan stays applicable, and says what it
pulled in or left out. Plans are built by hand: select only reads addresses, kinds, actions and depends_on."""

from __future__ import annotations

import pytest

from reconciler.engine.deciding.plan import Action, Cause, Change, Plan
from reconciler.engine.deciding.select import SelectionError, check_selectors, select
from reconciler.kinds import KINDS_BY_NAME
from tests.support.changes import make_change

PARTIAL = "this plan is partial (--target/--exclude): other changes may be pending"


def change(address: str, action: Action = Action.UPDATE, *deps: str, deposed_of: str | None = None) -> Change:
    return make_change(address, action, cause=Cause.CONFIG, remote_id="id", depends_on=tuple(deps),
                       deposed_of=deposed_of)  # fmt: skip


def addresses(plan: Plan) -> list[str]:
    return [c.address for c in plan.changes]


# cores.a <- repositories.r (r references a); webhooks.h is independent; cores.old is deleted after
# repositories.r moves off it; cores.same is up to date.
PLAN = Plan(
    (
        change("cores.a", Action.CREATE),
        change("cores.old", Action.DELETE, "repositories.r"),
        change("cores.same", Action.NO_OP),
        change("repositories.r", Action.UPDATE, "cores.a"),
        change("webhooks.h", Action.UPDATE),
    ),
    forget=("webhooks.gone",),
    warnings=("an earlier warning",),
)


def test_no_selection_is_the_same_plan() -> None:
    assert select(PLAN) is PLAN
    assert select(PLAN, [], []) is PLAN


def test_a_target_pulls_in_what_it_depends_on_and_says_so() -> None:
    got = select(PLAN, targets=["repositories.r"])
    assert addresses(got) == ["cores.a", "repositories.r"]
    assert "cores.a is included because a target depends on it" in got.warnings
    assert got.warnings[0] == "an earlier warning"
    assert got.warnings[-1] == PARTIAL


def test_dependencies_are_pulled_in_transitively() -> None:
    got = select(PLAN, targets=["cores.old"])
    assert addresses(got) == ["cores.a", "cores.old", "repositories.r"]
    assert "repositories.r is included because a target depends on it" in got.warnings
    assert "cores.a is included because a target depends on it" in got.warnings


def test_a_target_without_dependencies_is_alone_and_no_inclusion_is_claimed() -> None:
    got = select(PLAN, targets=["webhooks.h"])
    assert addresses(got) == ["webhooks.h"]
    assert not [w for w in got.warnings if "included" in w]


def test_a_pulled_in_noop_is_kept_but_not_announced() -> None:
    plan = Plan((change("cores.a", Action.NO_OP), change("repositories.r", Action.UPDATE, "cores.a")))
    got = select(plan, targets=["repositories.r"])
    assert addresses(got) == ["cores.a", "repositories.r"]
    assert got.warnings == (PARTIAL,)


def test_a_whole_kind_can_be_targeted() -> None:
    got = select(PLAN, targets=["cores"])
    assert addresses(got) == ["cores.a", "cores.old", "cores.same", "repositories.r"]
    assert "repositories.r is included because a target depends on it" in got.warnings


def test_an_exclusion_leaves_out_its_dependents_and_says_so() -> None:
    got = select(PLAN, excludes=["cores.a"])
    assert addresses(got) == ["cores.same", "webhooks.h"]
    assert "repositories.r is left out because it depends on cores.a" in got.warnings
    assert "cores.old is left out because it depends on repositories.r" in got.warnings
    assert got.warnings[-1] == PARTIAL


def test_an_exclusion_without_dependents_takes_out_only_itself() -> None:
    got = select(PLAN, excludes=["webhooks.h"])
    assert addresses(got) == ["cores.a", "cores.old", "cores.same", "repositories.r"]
    assert not [w for w in got.warnings if "left out" in w]


def test_an_excluded_dependency_drops_the_target_too() -> None:
    got = select(PLAN, targets=["repositories.r"], excludes=["cores.a"])
    assert addresses(got) == []
    assert "repositories.r is left out because it depends on cores.a" in got.warnings


def test_an_address_matching_nothing_is_an_error_with_a_did_you_mean() -> None:
    with pytest.raises(
        SelectionError,
        match=r"^--target cores\.sme matches nothing in this plan .*; did you mean cores\.same\?$",
    ):
        select(PLAN, targets=["cores.sme", "webhooks.h"])
    with pytest.raises(SelectionError, match=r"^--exclude sequences matches nothing in this plan"):
        select(PLAN, excludes=["sequences"])


def test_after_an_apply_the_check_lets_a_target_be_gone() -> None:
    got = select(PLAN, targets=["cores.nope", "webhooks.h"], excludes=["sequences"], strict=False)
    assert addresses(got) == ["webhooks.h"]
    assert "cores.nope matches nothing in this plan (not declared, not in state)" in got.warnings
    assert "sequences matches nothing in this plan (not declared, not in state)" in got.warnings


@pytest.mark.parametrize(
    ("address", "words"),
    [
        (
            "core.fast-athens",
            "--target core.fast-athens: there is no kind 'core'; did you mean cores.fast-athens?",
        ),
        ("core", "--target core: there is no kind 'core'; did you mean cores?"),
        ("cores.", "--target cores.: expected cores or cores.NAME"),
        ("zzz", "--target zzz: there is no kind 'zzz' (kinds: "),
    ],
)
def test_an_address_naming_no_kind_is_refused_before_planning(address: str, words: str) -> None:
    with pytest.raises(SelectionError) as caught:
        check_selectors("--target", [address], KINDS_BY_NAME)
    assert str(caught.value).startswith(words)


def test_forget_is_kept_with_exclusions_only() -> None:
    assert select(PLAN, excludes=["webhooks.h"]).forget == ("webhooks.gone",)
    assert select(PLAN, targets=["webhooks.h"]).forget == ()


def test_a_deposed_leftover_goes_with_its_owner() -> None:
    plan = Plan(
        (
            change("cores.c", Action.NO_OP),
            change("cores.c#deposed-cor_old", Action.DELETE, deposed_of="cores.c"),
            change("webhooks.h", Action.UPDATE),
        )
    )
    assert addresses(select(plan, targets=["cores.c"])) == ["cores.c", "cores.c#deposed-cor_old"]
    assert addresses(select(plan, excludes=["cores.c"])) == ["webhooks.h"]


def test_selection_does_not_change_the_input_plan() -> None:
    before = PLAN.to_json()
    select(PLAN, targets=["repositories.r"], excludes=["webhooks.h"])
    assert PLAN.to_json() == before


def test_a_files_folder_is_targeted_and_excluded_whole_by_its_own_address() -> None:
    plan = Plan(
        (
            change("files.inputs/a.csv", Action.CREATE),
            change("files.inputs/sub/b.csv", Action.UPDATE),
            change("files.other/c.csv", Action.DELETE),
        )
    )
    assert addresses(select(plan, targets=["files.inputs"])) == [
        "files.inputs/a.csv",
        "files.inputs/sub/b.csv",
    ]
    assert addresses(select(plan, excludes=["files.inputs"])) == ["files.other/c.csv"]
    assert not any("matches nothing" in w for w in select(plan, targets=["files.inputs"]).warnings)
