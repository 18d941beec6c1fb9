"""Templates render strictly and say that Timestack manages the file."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError

from roles.templating import render


def test_every_file_starts_with_the_managed_header() -> None:
    text = render("common/sysctl.conf.j2", sysctl={"vm.swappiness": 1})
    assert text.splitlines()[0] == (
        "# managed by Timestack from templates/common/sysctl.conf.j2; local edits are overwritten"
    )


def test_missing_variable_is_an_error_not_an_empty_value() -> None:
    with pytest.raises(UndefinedError, match="nofile"):
        render("common/limits.conf.j2")


def test_sysctl_file_is_sorted_key_value_lines() -> None:
    text = render("common/sysctl.conf.j2", sysctl={"vm.swappiness": 1, "fs.file-max": 2097152})
    settings = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert settings == ["fs.file-max = 2097152", "vm.swappiness = 1"]


def test_limits_cover_every_user_and_root() -> None:
    text = render("common/limits.conf.j2", nofile=65536)
    for who in ("*", "root"):
        assert f"{who} soft nofile 65536" in text
        assert f"{who} hard nofile 65536" in text


def test_thp_unit_skips_itself_where_sysfs_is_read_only() -> None:
    text = render("common/thp.service.j2", mode="never")
    assert "ConditionPathIsReadWrite=/sys/kernel/mm/transparent_hugepage/enabled" in text
    assert "echo never > /sys/kernel/mm/transparent_hugepage/enabled" in text
