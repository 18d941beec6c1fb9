"""roles.kafka.principals: the ACLs a principal gets, what the release's tools list, the
plan (add, alter, remove, no-op) and the commands that apply it; the password fingerprint
and the credential file; the records fact."""

from __future__ import annotations

import hashlib

from roles.kafka.facts import PrincipalRecords, Records
from roles.kafka.principals import (
    Access,
    Acl,
    Principal,
    acl_commands,
    acls_for,
    applied_record,
    credential_file,
    differences,
    fingerprint,
    ingest_principal,
    lag_principal,
    parse_access,
    parse_acls,
    parse_users,
    plan,
    record_sha1,
    remove_user_command,
    set_password_command,
)

SALT = "cluster-id"
APP = Principal("app", "app-Password-1", acls_for("app", ["vt"], ["fm"], ["app-*"]))
TOOL = ["/k/bin/kafka-acls.sh", "--bootstrap-server", "k1:9094", "--command-config", "c"]

USERS = """\
SCRAM credential configs for user-principal 'app' are SCRAM-SHA-512=iterations=4096
SCRAM credential configs for user-principal 'old' are SCRAM-SHA-512=iterations=4096
SCRAM credential configs for user-principal 'weak' are SCRAM-SHA-256=iterations=4096
Quota configs for user-principal 'app' are producer_byte_rate=1024
"""
ACLS = """\
Current ACLs for resource `ResourcePattern(resourceType=GROUP, name=app-, patternType=PREFIXED)`:
 \t(principal=User:app, host=*, operation=READ, permissionType=ALLOW)

Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=vt, patternType=LITERAL)`:
 \t(principal=User:app, host=*, operation=DESCRIBE, permissionType=ALLOW)
\t(principal=User:app, host=*, operation=WRITE, permissionType=ALLOW)
\t(principal=User:someone-else, host=*, operation=READ, permissionType=ALLOW)
\t(principal=User:app, host=*, operation=READ, permissionType=DENY)

Current ACLs for resource `ResourcePattern(resourceType=CLUSTER, name=kafka-cluster, \
patternType=LITERAL)`:
\t(principal=User:app, host=*, operation=ALTER, permissionType=ALLOW)
"""


def acl(principal: str, resource: str, name: str, operation: str, pattern: str = "LITERAL") -> Acl:
    return Acl(principal, resource, name, pattern, operation)  # type: ignore[arg-type]


def record(principal: Principal) -> str:
    return record_sha1(fingerprint(principal.password, f"{SALT}:{principal.name}"))


def in_sync(*principals: Principal) -> Access:
    acls = frozenset().union(*(p.acls for p in principals))
    return Access("ok", frozenset(p.name for p in principals), acls)


def test_a_producer_writes_a_consumer_reads_and_groups_are_read() -> None:
    assert APP.acls == {
        acl("app", "TOPIC", "vt", "WRITE"),
        acl("app", "TOPIC", "vt", "DESCRIBE"),
        acl("app", "TOPIC", "fm", "READ"),
        acl("app", "TOPIC", "fm", "DESCRIBE"),
        acl("app", "GROUP", "app-", "READ", "PREFIXED"),
    }


def test_a_lone_star_is_kafkas_literal_wildcard() -> None:
    assert acls_for("x", [], [], ["*"]) == {acl("x", "GROUP", "*", "READ")}


def test_timestack_own_principals_get_only_what_they_use() -> None:
    writers = ingest_principal("pw", ["vehicle-telemetry"], ["timestack-ingest"])
    assert writers.name == "timestack-ingest"
    assert writers.acls == {
        acl("timestack-ingest", "TOPIC", "vehicle-telemetry", "READ"),
        acl("timestack-ingest", "TOPIC", "vehicle-telemetry", "DESCRIBE"),
        acl("timestack-ingest", "GROUP", "timestack-ingest", "READ"),
    }
    lag = lag_principal("pw")
    assert lag.acls == {
        acl("timestack-kafka-lag", "TOPIC", "*", "DESCRIBE"),
        acl("timestack-kafka-lag", "GROUP", "*", "DESCRIBE"),
    }


def test_the_password_never_shows_in_a_principals_repr() -> None:
    assert "app-Password-1" not in repr(APP)


def test_users_with_a_scram_sha_512_credential_are_read() -> None:
    assert parse_users(USERS) == {"app", "old"}


def test_allow_acls_of_users_on_topics_and_groups_are_read() -> None:
    assert parse_acls(ACLS) == {
        acl("app", "GROUP", "app-", "READ", "PREFIXED"),
        acl("app", "TOPIC", "vt", "DESCRIBE"),
        acl("app", "TOPIC", "vt", "WRITE"),
        acl("someone-else", "TOPIC", "vt", "READ"),
    }


def test_the_access_fact_reads_both_sections_or_reports_the_failure() -> None:
    answer = [
        "### users",
        *USERS.splitlines(),
        "### rc 0",
        "### acls",
        *ACLS.splitlines(),
        "### rc 0",
    ]
    access = parse_access(answer)
    assert access.status == "ok"
    assert access.users == frozenset({"app", "old"})
    assert parse_access(["timestack:absent"]) == Access("absent")
    failed = parse_access(["### users", "Connection refused", "### rc 1", "### acls", "### rc 0"])
    assert (
        failed.status == "unreachable"
        and "reading users failed: Connection refused" in failed.error
    )


def test_a_cluster_in_sync_with_its_records_needs_nothing() -> None:
    pending = plan(in_sync(APP), [APP], {"app": record(APP)}, SALT)
    assert pending.empty and pending.summary() == []


def test_a_new_principal_gets_its_credential_and_acls() -> None:
    pending = plan(Access("absent"), [APP], {}, SALT)
    assert pending.set_password == (("app", "new"),)
    assert set(pending.add_acls) == APP.acls
    assert not (pending.remove_acls or pending.remove_users or pending.forget)
    assert "principal app: set its password (new)" in pending.summary()
    assert "allow app: WRITE on topic vt" in pending.summary()
    assert "allow app: READ on group app- (prefix)" in pending.summary()


def test_a_changed_password_is_set_again_and_only_then() -> None:
    stale = record_sha1(fingerprint("the old one", f"{SALT}:app"))
    assert plan(in_sync(APP), [APP], {"app": stale}, SALT).set_password == (("app", "changed"),)
    unrecorded = plan(in_sync(APP), [APP], {}, SALT).set_password
    assert unrecorded == (("app", "no record of it here"),)


def test_changed_acls_are_added_and_revoked() -> None:
    narrower = Principal("app", APP.password, acls_for("app", ["vt"], [], []))
    pending = plan(in_sync(APP), [narrower], {"app": record(APP)}, SALT)
    assert pending.add_acls == ()
    assert set(pending.remove_acls) == {
        acl("app", "TOPIC", "fm", "READ"),
        acl("app", "TOPIC", "fm", "DESCRIBE"),
        acl("app", "GROUP", "app-", "READ", "PREFIXED"),
    }
    assert pending.set_password == ()


def test_a_principal_no_longer_declared_loses_credential_acls_and_record() -> None:
    pending = plan(in_sync(APP), [], {"app": record(APP)}, SALT)
    assert pending.remove_users == ("app",)
    assert set(pending.remove_acls) == APP.acls
    assert pending.forget == ("app",)


def test_acls_and_users_timestack_does_not_manage_are_left_alone() -> None:
    theirs = acl("someone-else", "TOPIC", "vt", "READ")
    access = Access("ok", frozenset({"app", "someone-else"}), APP.acls | {theirs})
    pending = plan(access, [APP], {"app": record(APP)}, SALT)
    assert pending.empty


def test_the_verify_suite_reports_missing_and_extra_acls_of_declared_principals() -> None:
    extra = acl("app", "TOPIC", "other", "WRITE")
    access = Access("ok", frozenset(), frozenset({extra}))
    found = differences(access, [APP])
    assert "principal app: no SCRAM credential" in found
    assert "missing: app: WRITE on topic vt" in found
    assert "not declared: app: WRITE on topic other" in found


def test_the_plan_becomes_one_acl_command_per_principal_pattern_and_operations() -> None:
    """kafka-acls.sh grants every operation it is given on every resource it names: resources
    share a call only when they want the same operations (a group takes no DESCRIBE here)."""
    wider = Principal(
        "app", APP.password, acls_for("app", ["vt", "new", "more"], ["in"], ["app-*", "ops"])
    )
    pending = plan(in_sync(APP), [wider], {"app": record(APP)}, SALT)
    assert acl_commands(pending, TOOL) == [
        [*TOOL, "--add", "--allow-principal", "User:app", "--operation", "Read",
         "--group", "ops", "--resource-pattern-type", "literal"],
        [*TOOL, "--add", "--allow-principal", "User:app", "--operation", "Describe",
         "--operation", "Read", "--topic", "in", "--resource-pattern-type", "literal"],
        [*TOOL, "--add", "--allow-principal", "User:app", "--operation", "Describe",
         "--operation", "Write", "--topic", "more", "--topic", "new",
         "--resource-pattern-type", "literal"],
        [*TOOL, "--remove", "--force", "--allow-principal", "User:app", "--operation", "Describe",
         "--operation", "Read", "--topic", "fm", "--resource-pattern-type", "literal"],
    ]  # fmt: skip
    grouped = Principal("app", APP.password, acls_for("app", [], ["a", "b*"], ["a", "b*"]))
    commands = acl_commands(plan(in_sync(), [grouped], {}, SALT), TOOL)
    assert [c[c.index("--allow-principal") :] for c in commands] == [
        ["--allow-principal", "User:app", "--operation", "Read", "--group", "a",
         "--resource-pattern-type", "literal"],
        ["--allow-principal", "User:app", "--operation", "Read", "--group", "b",
         "--resource-pattern-type", "prefixed"],
        ["--allow-principal", "User:app", "--operation", "Describe", "--operation", "Read",
         "--topic", "a", "--resource-pattern-type", "literal"],
        ["--allow-principal", "User:app", "--operation", "Describe", "--operation", "Read",
         "--topic", "b", "--resource-pattern-type", "prefixed"],
    ]  # fmt: skip


def test_credentials_are_set_from_a_file_and_removed_by_mechanism() -> None:
    tool = ["/k/bin/kafka-configs.sh", "--bootstrap-server", "b"]
    assert set_password_command("app", "/etc/kafka/principals/.app.credential", tool) == [
        *tool, "--alter", "--entity-type", "users", "--entity-name", "app",
        "--add-config-file", "/etc/kafka/principals/.app.credential",
    ]  # fmt: skip
    assert remove_user_command("app", tool)[-2:] == ["--delete-config", "SCRAM-SHA-512"]
    assert not [part for part in set_password_command("app", "f", tool) if "Password" in part]


def test_the_credential_file_carries_the_password_as_java_reads_it() -> None:
    assert credential_file("a,b=c]d e#f") == "SCRAM-SHA-512=password=a,b=c]d e#f\n"
    assert credential_file("back\\slash\nnewline") == (
        "SCRAM-SHA-512=password=back\\\\slash\\nnewline\n"
    )
    assert credential_file("grüße") == "SCRAM-SHA-512=password=gr\\u00fc\\u00dfe\n"


def test_the_fingerprint_is_salted_slow_and_hides_the_password() -> None:
    first = fingerprint("secret-Password", "cluster-a:app")
    assert first == fingerprint("secret-Password", "cluster-a:app")
    assert first != fingerprint("secret-Password", "cluster-b:app")
    assert first != fingerprint("secret-Password", "cluster-a:other")
    assert first.startswith("pbkdf2-sha256:200000:") and "secret-Password" not in first
    expected = hashlib.pbkdf2_hmac("sha256", b"secret-Password", b"cluster-a:app", 200_000).hex()
    assert first.endswith(expected + "\n")


def test_the_records_fact_names_each_principal_with_the_digest_of_its_record() -> None:
    fact = PrincipalRecords()
    assert "sha1sum" in fact.command("/etc/kafka/principals")
    found = fact.process(
        ["0a1b app.fingerprint", "ffee timestack-ingest.fingerprint", "junk", "9c9c applied.state"]
    )
    assert found == Records({"app": "0a1b", "timestack-ingest": "ffee"}, applied="9c9c")
    assert fact.process([]) == Records({})


def test_the_applied_record_changes_with_a_password_or_an_acl_and_hides_passwords() -> None:
    app = Principal("app", "secret-Password", acls_for("app", ["t"], [], []))
    record = applied_record([app], "cluster-a")
    assert "secret-Password" not in record
    assert record == applied_record([app], "cluster-a")  # a rerun reads nothing more
    other_password = Principal("app", "other-Password", app.acls)
    assert applied_record([other_password], "cluster-a") != record
    more = Principal("app", "secret-Password", acls_for("app", ["t", "u"], [], []))
    assert applied_record([more], "cluster-a") != record
