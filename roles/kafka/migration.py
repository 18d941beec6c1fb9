"""Moving a running PLAINTEXT cluster to SASL_SSL, and the changes of security refused.

A broker restarted with other listeners must still reach the brokers not restarted yet, so
the move takes three rolling restarts (docs/kafka.md, "Moving a PLAINTEXT cluster to
SASL_SSL"):

1. opening: the TLS listeners open beside PLAINTEXT; Kafka's own traffic stays PLAINTEXT;
2. migrating: brokers and controllers talk TLS; PLAINTEXT stays open for applications;
3. secured: PLAINTEXT closes.

The first deploy with `kafka.plaintext_migration` makes rolls 1 and 2, the first deploy
without it roll 3: in between, applications move at their own pace. Pure logic, no pyinfra.
"""

from __future__ import annotations

from roles.kafka import config
from roles.spec import FieldError, KafkaSpec

DOCS = 'docs/kafka.md, "Moving a PLAINTEXT cluster to SASL_SSL"'


def opens(kafka: KafkaSpec, deployed: dict[str, str] | None) -> bool:
    """Whether this broker needs the opening roll before its roll to what host data wants."""
    return (
        deployed is not None
        and config.wanted_stage(kafka) == "migrating"
        and config.deployed_stage(deployed) == "plaintext"
    )


def refusal(host: str, kafka: KafkaSpec, deployed: dict[str, str] | None) -> FieldError | None:
    """Why no roll can take this broker from its deployed listeners to host data's, or None."""
    if deployed is None:
        return None
    have, want = config.deployed_stage(deployed), config.wanted_stage(kafka)
    migration = kafka.plaintext_migration
    if want == "plaintext" and have != "plaintext":
        return _refused(
            host,
            "kafka.security",
            "plaintext",
            f"sasl_ssl for this cluster: {config.SERVER_PROPERTIES} has TLS "
            "listeners, and Timestack does not take a cluster back to PLAINTEXT",
        )
    if want == "secured" and have == "plaintext":
        return _refused(
            host,
            "kafka.plaintext_migration",
            "nothing",
            "the PLAINTEXT listeners' ports (kafka.plaintext_migration: {port: 9092, "
            "controller_port: 9093}) and ports of their own for kafka.port and "
            f"kafka.controller_port: {config.SERVER_PROPERTIES} has PLAINTEXT "
            "listeners, and closing them in the same roll that opens TLS would "
            f"break the quorum and every client ({DOCS})",
        )
    if want == "secured" and have == "opening":
        return _refused(
            host,
            "kafka.plaintext_migration",
            "nothing",
            "kafka.plaintext_migration kept until a deploy with it has finished: "
            "this broker still talks PLAINTEXT to the others (the migration's first "
            "deploy stopped half way)",
        )
    if want == "migrating" and have == "secured":
        return _refused(
            host,
            "kafka.plaintext_migration",
            "set",
            f"nothing: {config.SERVER_PROPERTIES} has no PLAINTEXT listener left, "
            "and Timestack does not open one again",
        )
    if want == "migrating" and migration is not None:
        kept = config.plaintext_ports(deployed)
        if kept != migration.ports:
            return _refused(
                host,
                "kafka.plaintext_migration",
                f"port {migration.port}, controller_port {migration.controller_port}",
                f"the ports of the deployed PLAINTEXT listeners: "
                f"{sorted(kept)} in {config.SERVER_PROPERTIES}",
            )
    return None


def _refused(host: str, field: str, value: str, fix: str) -> FieldError:
    return FieldError(host, field, value, f"{fix}; nothing was changed")
