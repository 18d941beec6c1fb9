"""Ingest: the writer tier that carries Kafka's messages into TimescaleDB. One
`timestack-ingest` service per host of group `ingest`, its own system user, Debian's
python3-confluent-kafka and python3-psycopg, restarted when its program, configuration,
password or unit changed. What it does: roles/ingest/writer/__init__.py."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta

from roles import kafka_clients, managed_files, managed_units, packages, pki
from roles.common.facts import platform
from roles.ingest import config
from roles.refusal import Refusal
from roles.spec import FieldError, HostSpec
from roles.system_accounts import system_account
from roles.templating import rendered_file
from roles.unit_files import UNIT_DIR, unit_file

WRITER = Path(__file__).resolve().with_name("writer")


@deploy("Ingest writer")
def apply(spec: HostSpec, inventory_specs: Mapping[str, HostSpec]) -> None:
    primary = config.primaries(inventory_specs)[0]  # the validator made sure there is one
    loaded = config.load(primary)
    secured = config.kafka_secured(inventory_specs)
    broken = kafka_clients.scram_unsupported(platform().codename) if secured else None
    if broken:
        raise Refusal(
            FieldError(
                host.name,
                "group ingest",
                "this host",
                f"a writer host whose Kafka client can log in: {broken}. Run the writers on "
                "trixie, or keep kafka.security: plaintext",
            )
        )
    packages.installed(
        name="Install the Kafka and PostgreSQL client libraries", packages=config.PACKAGES
    )
    system_account(
        name="timestack-ingest system user and group",
        user=config.USER,
        group=config.USER,
        home="/nonexistent",
    )
    managed_files.directory(name="Timestack's configuration directory", path=config.CONF_DIR)
    package_dir = posixpath.join(config.LIB_DIR, config.PACKAGE)
    managed_files.directory(name="Writer program directory", path=package_dir)
    changed: list[OperationMeta] = [
        managed_files.put(
            name=f"Writer program: {source.name}",
            src=str(source),
            dest=posixpath.join(package_dir, source.name),
            mode="0644",
        )
        for source in sorted(WRITER.glob("*.py"))
    ]
    document = config.writer_config(spec, inventory_specs, primary, loaded)
    password = config.writer_role(primary, loaded).secret() or ""
    files = [
        ("Writer configuration (no secret)", config.CONFIG, json.dumps(document, indent=2), False),
        ("Writer database password", config.PASSWORD, password, True),
    ]
    if secured:
        files += [
            (
                "Writer Kafka password",
                config.KAFKA_PASSWORD,
                config.kafka_password(inventory_specs),
                True,
            ),
            (
                "Timestack's CA certificate for Kafka",
                config.KAFKA_CA,
                pki.ca_certificate().decode().rstrip("\n"),
                False,
            ),
        ]
    for name, dest, text, secret in files:
        # 0640 root:timestack-ingest: the writer reads them, nobody else
        changed.append(
            managed_files.put(
                name=name,
                dest=dest,
                user="root",
                group=config.USER,
                mode="0640",
                src=StringIO(text + "\n"),
                secret=secret,
            )
        )
    changed.append(
        unit_file(
            name=f"{config.UNIT}.service",
            dest=f"{UNIT_DIR}/{config.UNIT}.service",
            src=rendered_file(
                "ingest/writer.service.j2",
                user=config.USER,
                lib_dir=config.LIB_DIR,
                package=config.PACKAGE,
                config=config.CONFIG,
            ),
            reload="Load the changed writer unit",
        )
    )
    started = managed_units.service(
        name=f"{config.UNIT} enabled and running",
        service=config.UNIT,
        running=True,
        enabled=True,
    )
    managed_units.service(
        name=f"Restart {config.UNIT} for its changed program, configuration or password",
        service=config.UNIT,
        restarted=True,
        # Not right after a start: it started with these files.
        _if=lambda: any(op.did_change() for op in changed) and not started.did_change(),
    )
