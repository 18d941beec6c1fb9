"""pgBackRest on the lab: archiving to ts-backup1 over TLS, a backup on demand, a restore
drill that proves point-in-time recovery, and a second deploy that changes nothing."""

from __future__ import annotations

import re
import subprocess

from tests.integration.lab_access import LAB_INVENTORY as LAB
from tests.integration.lab_access import db_sql, run_verify
from tests.integration.pyinfra_run import DeployRun, run_pyinfra


def test_deploy_archives_wal_to_the_repository_host(first_deploy: DeployRun) -> None:
    assert db_sql("SHOW archive_mode") == "on"
    assert db_sql("SELECT last_archived_wal IS NOT NULL FROM pg_stat_archiver") == "t"
    listed = subprocess.run(
        ["docker", "exec", "ts-backup1", "ls", "/var/lib/pgbackrest/archive/main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "archive.info" in listed, "no WAL archive for stanza main on ts-backup1"


def test_backup_now_then_restore_drill_loses_nothing(first_deploy: DeployRun) -> None:
    backup = run_pyinfra(LAB, "ops/backup_now.py", "--data", "backup_type=full")
    assert backup.returncode == 0, backup.output[-4000:]
    assert re.search(r"full backup \d{8}-\d{6}F of stanza main", backup.output), backup.output
    drill = run_pyinfra(LAB, "ops/restore_drill.py")
    assert drill.returncode == 0, drill.output[-4000:]
    assert "RESULT: PASS: 0 rows lost, 0 post-target rows present" in drill.output
    assert "(hypertable)" in drill.output
    scratch = subprocess.run(
        ["docker", "exec", "ts-db1", "sh", "-c", "ls -d /var/lib/postgresql/timestack-drill-*"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert scratch.returncode != 0, f"scratch cluster left behind: {scratch.stdout}"


def test_the_drill_passes_run_after_run_with_and_without_a_backup_between(
    first_deploy: DeployRun,
) -> None:
    # Its database younger than the latest backup: the scratch cluster has it only once
    # replay passes its creation (it used to be polled there, and failed).
    db_sql("DROP DATABASE IF EXISTS timestack_drill WITH (FORCE)")
    for attempt, backup_first in enumerate((False, False, True, False, False), 1):
        if backup_first:
            backup = run_pyinfra(LAB, "ops/backup_now.py", "--data", "backup_type=incr")
            assert backup.returncode == 0, backup.output[-4000:]
        drill = run_pyinfra(LAB, "ops/restore_drill.py")
        assert drill.returncode == 0, f"run {attempt}: {drill.output[-4000:]}"
        assert "RESULT: PASS: 0 rows lost, 0 post-target rows present" in drill.output


def test_a_failing_runbook_says_why_in_one_line(first_deploy: DeployRun) -> None:
    # The live cluster's own port as the scratch port: refused before anything is written.
    drill = run_pyinfra(LAB, "ops/restore_drill.py", "--data", "drill_port=5432")
    assert drill.returncode != 0
    assert "ts-db1: scratch port 5432 is in use; pass --data drill_port=N" in drill.output
    assert "Traceback" not in drill.output, drill.output[-4000:]
    assert "Unexpected error" not in drill.output


def test_backup_verify_checks_pass(first_deploy: DeployRun) -> None:
    result = run_verify("tests/verify/test_backup.py")
    assert result.returncode == 0, result.stdout[-4000:]
