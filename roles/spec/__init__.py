"""The typed, validated view of pyinfra host data, and the inventory-wide validator.

Host data has one optional section per role: `common`, `postgres`, `pgbouncer`, `kafka`,
`backup`, `schema`, `monitoring`, `ingest`, `tls` (one module each, roles.spec.<section>,
where every default lives, so group data only sets what differs). Any other top-level key is
a typo unless pyinfra or a connector owns it (`_sudo`, `ssh_user`, `docker_identifier` …).
Cross-field and inventory-wide rules are in roles.spec.checks; rules that need a role's code
come in as `rules` and `inventory_rules` (roles.hostdata.validate passes them). deploy.py
validates before any operation is added and gets every bad field of every host in one
SpecError.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import Field, ValidationError, model_validator

from roles.spec import checks
from roles.spec.backup import BackupSpec
from roles.spec.checks import HostRule, InventoryRule, Parsed, Problem
from roles.spec.common import CommonSpec
from roles.spec.errors import FieldError, HostInput, SpecError, from_validation_error, no_such_key
from roles.spec.ingest import IngestSpec
from roles.spec.kafka import KafkaSpec, KafkaTopic
from roles.spec.monitoring import MonitoringSpec
from roles.spec.pgbouncer import PgbouncerDatabase, PgbouncerSpec
from roles.spec.postgres import DatabaseSpec, HbaRule, PostgresSpec, RoleSpec
from roles.spec.schema import SchemaSpec
from roles.spec.tls import TlsSpec
from roles.spec.types import SpecModel, parse_size

__all__ = [
    "BackupSpec",
    "CommonSpec",
    "DatabaseSpec",
    "FieldError",
    "HbaRule",
    "HostInput",
    "HostRule",
    "HostSpec",
    "IngestSpec",
    "InventoryRule",
    "KafkaSpec",
    "KafkaTopic",
    "MonitoringSpec",
    "Parsed",
    "PgbouncerDatabase",
    "PgbouncerSpec",
    "PostgresSpec",
    "Problem",
    "RoleSpec",
    "SchemaSpec",
    "SpecError",
    "TlsSpec",
    "host_address",
    "parse_size",
    "validate_inventory",
]

# pyinfra global arguments (_sudo …) and connector data (ssh_user, docker_identifier …)
CONNECTOR_PREFIXES = (
    "_",
    "ssh_",
    "docker_",
    "dockerssh_",
    "local_",
    "chroot_",
    "podman_",
    "winrm_",
    "vagrant_",
    "terraform_",
    "verify_",  # read by the verify suite only (tests/verify/targets.py)
)
# Sections of host data other tools read and validate themselves.
OTHER_TOOLS = ("bench",)  # bench/spec.py: `python -m bench validate` thresholds

SECTIONS: dict[str, type[SpecModel]] = {
    "common": CommonSpec,
    "postgres": PostgresSpec,
    "pgbouncer": PgbouncerSpec,
    "kafka": KafkaSpec,
    "backup": BackupSpec,
    "schema": SchemaSpec,
    "monitoring": MonitoringSpec,
    "ingest": IngestSpec,
    "tls": TlsSpec,
}


def _with_postgres_port(pgbouncer: object, port: object) -> object:
    """pgbouncer.databases[].port defaults to this host's postgres.port."""
    if not isinstance(port, int) or not isinstance(pgbouncer, Mapping):
        return pgbouncer
    databases = pgbouncer.get("databases")
    if not isinstance(databases, list):
        return pgbouncer
    filled = [{"port": port, **db} if isinstance(db, Mapping) else db for db in databases]
    return {**pgbouncer, "databases": filled}


def host_address(inventory_name: str) -> str:
    """The host name an inventory name stands for, which other hosts dial unless host data
    says otherwise: `@docker/ts-db1` -> `ts-db1`, `@ssh/db1.example` -> `db1.example`,
    `@local` -> `localhost`, a plain name as it is."""
    if inventory_name == "@local":
        return "localhost"
    _, slash, rest = inventory_name.partition("/")
    return rest if inventory_name.startswith("@") and slash else inventory_name


class HostSpec(SpecModel):
    """All sections of one host, plus its inventory name and groups."""

    name: str
    groups: frozenset[str] = frozenset()
    common: CommonSpec = Field(default_factory=CommonSpec)
    postgres: PostgresSpec = Field(default_factory=PostgresSpec)
    pgbouncer: PgbouncerSpec = Field(default_factory=PgbouncerSpec)
    kafka: KafkaSpec = Field(default_factory=KafkaSpec)
    backup: BackupSpec = Field(default_factory=BackupSpec)
    schema_: SchemaSpec = Field(default_factory=SchemaSpec, alias="schema")
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    ingest: IngestSpec = Field(default_factory=IngestSpec)
    tls: TlsSpec = Field(default_factory=TlsSpec)

    @model_validator(mode="before")
    @classmethod
    def _pgbouncer_port_default(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or "pgbouncer" not in data:
            return data
        postgres, port = data.get("postgres"), 5432
        if isinstance(postgres, PostgresSpec):
            port = postgres.port
        elif isinstance(postgres, Mapping):
            port = postgres.get("port", port)
        return {**data, "pgbouncer": _with_postgres_port(data["pgbouncer"], port)}


M = TypeVar("M", bound=SpecModel)


@functools.cache
def _schema(model: type[SpecModel]) -> dict[str, Any]:
    return model.model_json_schema()


def _parse(model: type[M], host: str, key: str, raw: object, errors: list[FieldError]) -> M | None:
    try:
        return model.model_validate({} if raw is None else raw)
    except ValidationError as exc:
        errors.extend(from_validation_error(exc, host, key, _schema(model), raw))
    return None


def _validate_host(
    host: HostInput, inventory: checks.Inventory, rules: Sequence[HostRule]
) -> tuple[Parsed, list[FieldError]]:
    errors = [
        FieldError(
            host.name,
            key,
            "an unknown key",
            no_such_key(key, list(SECTIONS), noun="section")
            + " (pyinfra and connector keys start with _, ssh_, docker_ ...)",
        )
        for key in host.data
        if key not in SECTIONS and key not in OTHER_TOOLS and not key.startswith(CONNECTOR_PREFIXES)
    ]
    data = host.data
    postgres = _parse(PostgresSpec, host.name, "postgres", data.get("postgres"), errors)
    pg_port = postgres.port if postgres else 5432
    parsed = Parsed(
        name=host.name,
        groups=host.groups,
        common=_parse(CommonSpec, host.name, "common", data.get("common"), errors),
        postgres=postgres,
        pgbouncer=_parse(
            PgbouncerSpec,
            host.name,
            "pgbouncer",
            _with_postgres_port(data.get("pgbouncer"), pg_port),
            errors,
        ),
        kafka=_parse(KafkaSpec, host.name, "kafka", data.get("kafka"), errors),
        backup=checks.resolve_repo_host(
            _parse(BackupSpec, host.name, "backup", data.get("backup"), errors), inventory
        ),
        schema=_parse(SchemaSpec, host.name, "schema", data.get("schema"), errors),
        monitoring=_parse(MonitoringSpec, host.name, "monitoring", data.get("monitoring"), errors),
        ingest=_parse(IngestSpec, host.name, "ingest", data.get("ingest"), errors),
        tls=_parse(TlsSpec, host.name, "tls", data.get("tls"), errors),
    )
    errors += [
        FieldError(host.name, *problem)
        for problem in checks.host_problems(parsed, inventory, rules)
    ]
    return parsed, errors


def validate_inventory(
    hosts: Sequence[HostInput],
    rules: Sequence[HostRule] = (),
    inventory_rules: Sequence[InventoryRule] = (),
) -> dict[str, HostSpec]:
    """Every host's HostSpec by name; raises SpecError naming every bad field of every host.
    `rules` and `inventory_rules` add the checks that need a role's code (roles.hostdata
    passes them): per host, and across hosts."""
    inventory = checks.Inventory.of((host.name, host.groups) for host in hosts)
    errors: list[FieldError] = []
    parsed: list[Parsed] = []
    for host in hosts:
        result, host_errors = _validate_host(host, inventory, rules)
        parsed.append(result)
        errors += host_errors
    errors += [FieldError(*e) for e in checks.inventory_problems(parsed)]
    for rule in inventory_rules:
        errors += [FieldError(*e) for e in rule(parsed)]
    if errors:
        raise SpecError(errors)
    return {p.name: HostSpec.model_validate(p.sections()) for p in parsed}
