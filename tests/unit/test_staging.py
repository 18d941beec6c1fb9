"""The private staging directory's fact: what counts as safe to stage uploads in."""

from __future__ import annotations

import pytest

from roles.staging import SUDO_OK, Staging, StagingState


def test_a_missing_directory_is_reported_as_absent() -> None:
    state = Staging().process(["/home/deploy/.timestack-staging", "1000", SUDO_OK])
    assert state == StagingState("/home/deploy/.timestack-staging", 1000, True, None, None, None)
    assert not state.private


def test_sudo_that_asks_for_a_password_is_not_passwordless() -> None:
    state = Staging().process(["/home/deploy/.timestack-staging", "1000", "no-sudo"])
    assert not state.passwordless_sudo


@pytest.mark.parametrize(
    ("found", "private"),
    [
        ("directory|1000|700", True),
        ("directory|1000|755", False),  # others may list and read what is staged
        ("directory|1001|700", False),  # someone else's: they could swap files in it
        ("symbolic link|1000|777", False),  # could point anywhere
        ("regular file|1000|700", False),
    ],
)
def test_only_a_0700_directory_of_the_ssh_user_is_private(found: str, private: bool) -> None:
    state = Staging().process(["/home/deploy/.timestack-staging", "1000", SUDO_OK, found])
    assert state.private is private
