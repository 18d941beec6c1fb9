"""Rules of `kafka.security`, `kafka.principals` and the passwords of Timestack's own Kafka
principals: refused before any host changes, each with its host, field and fix.

Host rules (`principal_problems`) look at one host's kafka section; inventory rules
(`security_problems`) at the brokers together (one security mode per cluster) and at the
groups whose clients need a principal (ingest: the writers; monitoring: the lag collector).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Protocol

from roles.spec.kafka import INGEST_PRINCIPAL, LAG_PRINCIPAL, KafkaSpec
from roles.spec.types import SECRETS_REQUIRED

Problem = tuple[str, str, str]  # field, got, expected


class _Host(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def groups(self) -> frozenset[str]: ...
    @property
    def kafka(self) -> KafkaSpec | None: ...


def _unset(env: str) -> bool:
    return SECRETS_REQUIRED.get() and not os.environ.get(env)


def _password(field: str, env: str | None, example: str, why: str) -> Iterator[Problem]:
    if not env:
        yield field, "nothing", f"an environment variable holding {why}, e.g. {example}"
    elif _unset(env):
        yield (
            field,
            repr(env),
            f"environment variable {env} to be set and non-empty where pyinfra runs",
        )


def principal_problems(kafka: KafkaSpec) -> Iterator[Problem]:
    """kafka.principals: only with sasl_ssl, unique, not Timestack's own names, each with
    its password, and ACLs only on declared topics (or prefixes)."""
    if kafka.security != "sasl_ssl":
        if kafka.principals:
            yield (
                "kafka.principals",
                f"{len(kafka.principals)} principal(s) with kafka.security plaintext",
                "no principals, or kafka.security: sasl_ssl (PLAINTEXT listeners neither "
                "authenticate nor enforce ACLs)",
            )
        return
    names = [p.name for p in kafka.principals]
    for name, count in Counter(names).items():
        if count > 1:
            yield (
                f"kafka.principals[{name}]",
                repr(name),
                f"each principal declared once (found {count})",
            )
    topics = sorted(t.name for t in kafka.topics if t.state == "present")
    for principal in kafka.principals:
        path = f"kafka.principals[{principal.name}]"
        if principal.name in (INGEST_PRINCIPAL, LAG_PRINCIPAL):
            yield (
                f"{path}.name",
                repr(principal.name),
                f"another name: {INGEST_PRINCIPAL} and {LAG_PRINCIPAL} are Timestack's own "
                "principals (the ingest writers, the lag collector), derived from the inventory",
            )
        example = "TIMESTACK_KAFKA_" + principal.name.upper().replace("-", "_").replace(".", "_")
        yield from _password(
            f"{path}.password_env", principal.password_env, f"{example}_PASSWORD",
            "its password (it logs in with SCRAM-SHA-512)",
        )  # fmt: skip
        for field in ("produce", "consume"):
            for topic in getattr(principal, field):
                if not topic.endswith("*") and topic not in topics:
                    yield (
                        f"{path}.{field}",
                        repr(topic),
                        f"a topic of kafka.topics ({', '.join(topics) or 'none declared'}), "
                        'or a prefix ending in "*"',
                    )


def security_problems(hosts: Sequence[_Host]) -> Iterator[tuple[str, str, str, str]]:
    """One kafka.security per cluster; with sasl_ssl, the passwords Timestack's own
    principals need wherever their clients run."""
    brokers = [h for h in hosts if "kafka" in h.groups and h.kafka is not None]
    if not brokers:
        return
    first = brokers[0]
    assert first.kafka is not None
    for broker in brokers[1:]:
        assert broker.kafka is not None
        if broker.kafka.security != first.kafka.security:
            yield (
                broker.name,
                "kafka.security",
                broker.kafka.security,
                f"{first.kafka.security}, as {first.name}: one cluster, one security mode",
            )
    if first.kafka.security != "sasl_ssl":
        return
    writers = any("ingest" in h.groups for h in hosts)
    monitored = any("monitoring" in h.groups for h in hosts)
    for broker in brokers:
        kafka = broker.kafka
        assert kafka is not None
        needed = [
            (writers, "kafka.ingest_password_env", kafka.ingest_password_env,
             "TIMESTACK_KAFKA_INGEST_PASSWORD", f"the password of {INGEST_PRINCIPAL}, the "
             "ingest writers' principal (the inventory has group ingest)"),
            (monitored, "kafka.lag_password_env", kafka.lag_password_env,
             "TIMESTACK_KAFKA_LAG_PASSWORD", f"the password of {LAG_PRINCIPAL}, the lag "
             "collector's principal (the inventory has group monitoring)"),
        ]  # fmt: skip
        for wanted, field, env, example, why in needed:
            if wanted:
                for problem in _password(field, env, example, why):
                    yield (broker.name, *problem)
