"""The one outcome table (outcomes.py): every error of the tree has its row."""

from __future__ import annotations

import pytest

from circadian_scp_upload import errors
from circadian_scp_upload.outcomes import (
    EXIT_CODE_MEANINGS,
    EXIT_CODES,
    RULES,
    Outcome,
    exit_code,
    is_bug,
    rule_for,
    worst,
)


def error_tree(root: type[BaseException]) -> list[type[BaseException]]:
    found = [root]
    for sub in root.__subclasses__():
        found += error_tree(sub)
    return found


def test_every_error_class_of_the_package_has_its_own_row() -> None:
    tree = error_tree(errors.CircadianError)
    assert len(tree) >= 10
    for kind in tree:
        assert kind in RULES, f"{kind.__name__} has no row in outcomes.RULES"


@pytest.mark.parametrize(
    ("error", "outcome", "scope", "code"),
    [
        (errors.ConfigError("x"), Outcome.CONFIG, "job", 2),
        (errors.PatternError("x"), Outcome.CONFIG, "job", 2),
        (errors.AuthenticationError("x"), Outcome.REFUSED, "pass", 3),
        (errors.HostKeyError("x"), Outcome.REFUSED, "pass", 3),
        (errors.LockedError("x"), Outcome.REFUSED, "job", 3),
        (errors.PermanentError("x"), Outcome.REFUSED, "pass", 3),
        (errors.RemotePathError("x"), Outcome.FAILED, "day", 1),
        (errors.TransientError("x"), Outcome.FAILED, "pass", 1),
        (errors.UploadAborted("x"), Outcome.STOPPED, "pass", 0),
        (KeyError("a bug"), Outcome.FAILED, "job", 1),
    ],
)
def test_each_error_maps_to_its_outcome_scope_and_exit_code(
    error: BaseException, outcome: Outcome, scope: str, code: int
) -> None:
    rule = rule_for(error)
    assert (rule.outcome, rule.scope, exit_code(rule.outcome)) == (outcome, scope, code)
    assert rule.retry == isinstance(error, errors.TransientError)
    assert is_bug(error) == (not isinstance(error, errors.CircadianError))


def test_the_worst_outcome_wins_and_every_code_is_documented() -> None:
    assert worst([]) == Outcome.OK
    assert worst([Outcome.OK, Outcome.FAILED, Outcome.STOPPED]) == Outcome.FAILED
    assert worst([Outcome.FAILED, Outcome.REFUSED]) == Outcome.REFUSED
    assert worst([Outcome.REFUSED, Outcome.CONFIG]) == Outcome.CONFIG
    assert set(EXIT_CODES.values()) == set(EXIT_CODE_MEANINGS)
