"""The section models of roles.spec: one per role, every default in one place.

Group data and hosts set only what differs from these defaults. Each model checks its own
fields; rules that relate fields or hosts live in roles.spec_checks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from roles.spec_types import (
    AbsPath,
    Cidr,
    DebPackage,
    EnvVar,
    GucName,
    HbaName,
    Hostname,
    KafkaClusterId,
    KafkaProperty,
    KafkaValue,
    KafkaVersion,
    ListenAddress,
    OnCalendar,
    PgDuration,
    PgIdent,
    PgListenAddress,
    Port,
    S3Bucket,
    Sha512,
    Size,
    StanzaName,
    SysctlKey,
    Timezone,
    TopicName,
)

DEFAULT_SYSCTL: dict[str, int | str] = {
    "vm.swappiness": 1,  # keep the buffer cache and shared_buffers in RAM
    "vm.max_map_count": 262144,  # Kafka maps two index files per log segment
    "net.core.somaxconn": 4096,  # accept backlog for pgBouncer's and Kafka's bursts
    "fs.file-max": 2097152,  # system-wide ceiling above every per-process nofile
}
BASE_PACKAGES = (
    "ca-certificates",
    "curl",
    "gnupg",
    "chrony",
    "sysstat",
    "procps",
    "iproute2",
    "lsof",
    "less",
)


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommonSpec(SpecModel):
    timezone: Timezone = Field("UTC", description="IANA time zone of the host clock and logs")
    base_packages: list[DebPackage] = Field(
        list(BASE_PACKAGES), description="apt packages every host gets (replaces the default list)"
    )
    apt_cache_seconds: int = Field(
        3600, description="skip apt-get update while the cache is younger", ge=0
    )
    sysctl: dict[SysctlKey, int | str] = Field(
        dict(DEFAULT_SYSCTL),
        description="kernel settings, merged over the defaults (vm.swappiness=1, "
        "vm.max_map_count=262144, net.core.somaxconn=4096, fs.file-max=2097152). "
        "vm.overcommit_memory stays at the kernel "
        "default 0: strict mode 2 (what the PostgreSQL docs suggest for dedicated database "
        "hosts) caps commits at swap + 50% of RAM unless vm.overcommit_ratio is raised too, "
        "which breaks small hosts and JVM (Kafka) hosts; set both on dedicated database hosts",
    )
    nofile: int = Field(65536, description="open-file limit for sessions and services", ge=1024)
    transparent_hugepages: Literal["never", "madvise"] = Field(
        "never", description="THP mode; never avoids latency spikes in PostgreSQL and the JVM"
    )
    exposed_ports: list[Port] = Field(
        [22],
        description="TCP ports any process may listen on at every address (sshd, which pyinfra "
        "uses); the verify suite fails on any other listener on 0.0.0.0 or :: that no service's "
        "listen setting declares",
    )

    @field_validator("sysctl")
    @classmethod
    def _over_defaults(cls, value: dict[str, int | str]) -> dict[str, int | str]:
        return {**DEFAULT_SYSCTL, **value}


class TuningSpec(SpecModel):
    memory: Size | None = Field(None, description="RAM PostgreSQL may plan for (default: detected)")
    cpus: int | None = Field(None, description="CPU cores (default: detected)", ge=1)
    disk: Literal["hdd", "ssd", "nvme"] | None = Field(
        None, description="data disk kind (default: detected)"
    )
    wal_disk: Size | None = Field(None, description="size of the WAL volume (default: detected)")
    reserve: Size | None = Field(None, description="RAM kept for the OS and other services")


class HbaRule(SpecModel):
    type: Literal["host", "hostssl"] = Field(
        "hostssl", description="hostssl requires TLS from the client"
    )
    database: HbaName = Field(description="database name(s) or all/sameuser/samerole/replication")
    user: HbaName = Field(description="role name(s), +group or all")
    address: Cidr = Field(description="client network in CIDR form, e.g. 10.20.0.0/24")
    method: str = Field("scram-sha-256", description="authentication method; only scram-sha-256")
    allow_any_address: bool = Field(False, description="permit 0.0.0.0/0 or ::/0 in address")

    @field_validator("method")
    @classmethod
    def _scram_only(cls, value: str) -> str:
        why = {
            "trust": "trust lets anyone in without a password",
            "md5": "md5 is a weak, deprecated hash that SCRAM replaces",
            "password": "password sends the password in clear text",
        }
        if value != "scram-sha-256":
            reason = why.get(value, "host rules here always authenticate with a password")
            raise ValueError(f"scram-sha-256 ({reason})")
        return value


class RoleSpec(SpecModel):
    name: PgIdent = Field(description="role name")
    login: bool = Field(True, description="may log in (needs password or password_env)")
    password: SecretStr | None = Field(
        None, description="the password itself (prefer password_env)"
    )
    password_env: EnvVar | None = Field(
        None, description="environment variable holding the password"
    )
    superuser: Literal[False] = Field(
        False,
        description="never true",
        json_schema_extra={
            "x-expected": "false: Timestack never creates superusers; use the "
            "postgres OS user over the local socket instead"
        },
    )
    member_of: list[PgIdent] = Field([], description="roles this role is granted")
    _env_secret: SecretStr | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _read_env(self) -> Self:
        if self.password_env:
            self._env_secret = SecretStr(os.environ.get(self.password_env, ""))
        return self

    def secret(self) -> str | None:
        """The plaintext password (from password, or password_env read at validation)."""
        chosen = self.password or self._env_secret
        return chosen.get_secret_value() if chosen else None


class DatabaseSpec(SpecModel):
    name: PgIdent = Field(description="database name")
    owner: PgIdent = Field(description="owning role; must be declared in postgres.roles")
    extensions: list[PgIdent] = Field([], description="extensions to create, e.g. timescaledb")


class PostgresSpec(SpecModel):
    version: int = Field(17, description="PostgreSQL major version", ge=13, le=18)
    source: Literal["timescale", "debian"] = Field(
        "timescale",
        description=(
            "timescale: PGDG + Timescale's packagecloud repos (licensed TSL build); "
            "debian: Debian's own packages (Apache edition)"
        ),
    )
    postgis: bool = Field(False, description="install PostGIS for this version")
    port: Port = Field(5432, description="TCP port")
    listen_addresses: list[PgListenAddress] = Field(
        ["localhost"], description="addresses to listen on"
    )
    cluster: StanzaName = Field("main", description="Debian cluster name (pg_createcluster)")
    data_directory: AbsPath | None = Field(
        None, description="data directory (default /var/lib/postgresql/<version>/<cluster>)"
    )
    wal_directory: AbsPath | None = Field(
        None, description="separate WAL directory (default: inside data)"
    )
    max_connections: int = Field(200, description="server connection limit", ge=10)
    superuser_reserved_connections: int = Field(3, description="slots kept for superusers", ge=0)
    tuning: TuningSpec = Field(TuningSpec(), description="overrides of detected hardware")
    hba: list[HbaRule] = Field([], description="network access rules (pg_hba.conf host lines)")
    roles: list[RoleSpec] = Field([], description="roles to create")
    databases: list[DatabaseSpec] = Field([], description="databases to create")
    settings: dict[GucName, bool | int | float | str] = Field(
        {}, description="postgresql.conf overrides; always win over tuning (own conf.d file)"
    )

    @property
    def data_dir(self) -> str:
        return self.data_directory or f"/var/lib/postgresql/{self.version}/{self.cluster}"


class TlsFiles(SpecModel):
    cert_file: AbsPath = Field(description="PEM certificate")
    key_file: AbsPath = Field(description="PEM private key")
    ca_file: AbsPath | None = Field(None, description="CA bundle to verify the peer")


class PgbouncerTls(SpecModel):
    client: TlsFiles | None = Field(None, description="TLS towards applications")
    server: TlsFiles | None = Field(None, description="TLS towards PostgreSQL (client certificate)")


class PgbouncerDatabase(SpecModel):
    name: PgIdent = Field(description="database name clients use")
    host: Hostname = Field("127.0.0.1", description="PostgreSQL host")
    port: Port = Field(5432, description="PostgreSQL port (default: postgres.port of this host)")
    dbname: PgIdent = Field(description="database on the server (default: name)")

    @model_validator(mode="before")
    @classmethod
    def _dbname_defaults_to_name(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "dbname" not in data and "name" in data:
            return {**data, "dbname": data["name"]}
        return data


class PgbouncerSpec(SpecModel):
    listen_addr: ListenAddress = Field("127.0.0.1", description="address to listen on")
    listen_port: Port = Field(6432, description="TCP port")
    pool_mode: Literal["session", "transaction", "statement"] = Field(
        "transaction", description="when a server connection returns to the pool"
    )
    max_client_conn: int = Field(1000, description="client connection limit", ge=1)
    default_pool_size: int = Field(
        50, description="server connections per database/user pool", ge=1
    )
    reserve_pool_size: int = Field(
        10, description="extra connections when a pool is exhausted", ge=0
    )
    reserve_pool_timeout: float = Field(5, description="seconds before the reserve is used", ge=0)
    auth_user: PgIdent = Field(
        "pgbouncer_auth", description="role pgBouncer looks passwords up with"
    )
    admin_users: list[PgIdent] = Field([], description="roles allowed on the admin console")
    stats_users: list[PgIdent] = Field([], description="roles allowed SHOW commands")
    databases: list[PgbouncerDatabase] = Field([], description="databases to pool")
    tls: PgbouncerTls | None = Field(None, description="TLS files; None = plain TCP")


class KafkaTopic(SpecModel):
    name: TopicName = Field(description="topic name")
    partitions: int = Field(10, description="partition count (can only grow)", ge=1)
    replication_factor: int = Field(1, description="copies of each partition", ge=1)
    configs: dict[KafkaProperty, KafkaValue] = Field(
        {}, description="topic configs, e.g. retention.ms"
    )
    state: Literal["present", "absent"] = Field("present", description="absent deletes the topic")


class KafkaSpec(SpecModel):
    version: KafkaVersion = Field("4.4.0", description="Kafka release (4.x: KRaft only, Java 17+)")
    scala_version: Literal["2.12", "2.13"] = Field("2.13", description="Scala build of the release")
    archive: str | None = Field(
        None,
        description="https:// URL of the release .tgz (downloaded on the host) or a path on the "
        "machine running pyinfra (uploaded; for air-gapped sites). Default: archive.apache.org, "
        "checked against the .sha512 Apache publishes next to it unless archive_sha512 pins it",
    )
    archive_sha512: Sha512 | None = Field(
        None,
        description="SHA-512 of the archive; required for a URL, computed when a local file "
        "has none (and checked when it has one)",
    )
    install_dir: AbsPath = Field("/opt", description="where kafka_<scala>-<version> is unpacked")
    java_package: DebPackage | None = Field(
        None,
        description="Java runtime package (default by Debian release: openjdk-17-jre-headless "
        "on bookworm, openjdk-21-jre-headless on trixie)",
    )
    node_id: int | None = Field(
        None, description="KRaft node.id (default: derived from group order)", ge=0
    )
    cluster_id: KafkaClusterId | None = Field(
        None, description="KRaft cluster id (default: generated)"
    )
    listen_address: ListenAddress = Field(
        "*",
        description='address the broker and controller listeners bind to; "*" = every '
        "address (brokers serve clients on other hosts); an IP address binds to that interface",
    )
    port: Port = Field(9092, description="broker listener port")
    controller_port: Port = Field(9093, description="KRaft controller listener port")
    advertised_host: Hostname | None = Field(
        None, description="name clients connect to (default: host)"
    )
    data_dirs: list[AbsPath] = Field(["/var/lib/kafka/data"], description="log.dirs", min_length=1)
    log_dir: AbsPath = Field("/var/log/kafka", description="the broker's own log files (LOG_DIR)")
    heap: Size | None = Field(None, description="JVM heap (default: derived from RAM)")
    nofile: int = Field(
        100000,
        description="open-file limit of the broker (LimitNOFILE): Kafka keeps a log, an index "
        "and a time index open per segment of every partition",
        ge=1024,
    )
    settings: dict[KafkaProperty, KafkaValue] = Field({}, description="server.properties overrides")
    topics: list[KafkaTopic] = Field([], description="topics to manage")

    @field_validator("archive")
    @classmethod
    def _url_or_path(cls, value: str | None) -> str | None:
        if value is not None and ("://" in value or not value.strip()):
            scheme, _, rest = value.partition("://")
            if scheme != "https" or not rest.split("/", 1)[0]:
                raise ValueError("an https:// URL or a local path to the Kafka .tgz")
        return value

    @property
    def archive_url(self) -> str:
        """Where the release comes from: `archive`, or the Apache archive for the version."""
        name = f"kafka_{self.scala_version}-{self.version}.tgz"
        return self.archive or f"https://archive.apache.org/dist/kafka/{self.version}/{name}"

    @property
    def archive_is_local(self) -> bool:
        """A path on the machine running pyinfra, uploaded from there."""
        return self.archive is not None and "://" not in self.archive


class S3Spec(SpecModel):
    bucket: S3Bucket = Field(description="bucket name")
    region: str = Field(description="region, e.g. eu-central-1")
    endpoint: Hostname | None = Field(
        None, description="endpoint (default s3.<region>.amazonaws.com)"
    )
    key_env: EnvVar = Field(description="environment variable holding the access key id")
    secret_env: EnvVar = Field(description="environment variable holding the secret access key")
    _keys: tuple[SecretStr, SecretStr] | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _read_env(self) -> Self:
        self._keys = (SecretStr(os.environ[self.key_env]), SecretStr(os.environ[self.secret_env]))
        return self

    def credentials(self) -> tuple[str, str]:
        """(access key id, secret access key), read from key_env/secret_env at validation."""
        assert self._keys is not None
        return self._keys[0].get_secret_value(), self._keys[1].get_secret_value()


class BackupSchedule(SpecModel):
    full: OnCalendar = Field("Sun *-*-* 01:00:00", description="systemd OnCalendar of full backups")
    diff: OnCalendar = Field(
        "Mon..Sat *-*-* 01:00:00", description="OnCalendar of differential backups"
    )
    incr: OnCalendar | None = Field(
        None, description="OnCalendar of incremental backups (default: none)"
    )


class BackupSpec(SpecModel):
    stanza: StanzaName = Field("main", description="pgBackRest stanza")
    repo_type: Literal["posix", "posix_local", "s3"] = Field(
        "posix",
        description="posix: a repository host (group pgbackrest_repo); posix_local: this host; s3",
    )
    repo_host: str | None = Field(
        None, description="inventory host in group pgbackrest_repo (default: the only one)"
    )
    repo_path: AbsPath = Field("/var/lib/pgbackrest", description="repository path")
    retention_full: int = Field(2, description="full backups kept", ge=1)
    retention_diff: int = Field(7, description="differential backups kept", ge=1)
    compress_type: Literal["zst", "lz4", "gz"] = Field("zst", description="compression")
    schedule: BackupSchedule = Field(BackupSchedule(), description="backup timers")
    s3: S3Spec | None = Field(None, description="S3 repository; required when repo_type is s3")
    transport: Literal["tls"] = Field(
        "tls",
        description="pgBackRest transport between hosts: its TLS server, certificates "
        "from a CA kept on the machine running pyinfra (TIMESTACK_PKI_DIR, default .timestack/pki)",
    )
    address: Hostname | None = Field(
        None,
        description="name other hosts reach this host's pgBackRest TLS server by, also its "
        "certificate CN (default: the inventory name, @docker/ stripped)",
    )
    tls_listen_address: ListenAddress = Field(
        "*",
        description='address the pgBackRest TLS server binds to; "*" = every address (peers '
        "connect from other hosts); an IP address binds to that interface",
    )
    tls_port: Port = Field(8432, description="port of this host's pgBackRest TLS server")


class SchemaSpec(SpecModel):
    spec: str = Field(
        "sql/timeseries.yml", description="time-series spec, relative to the project", min_length=1
    )
    database: PgIdent = Field("telemetry", description="database the schema is applied to")
    statement_timeout: PgDuration = Field("5min", description="per-statement limit while migrating")
    lock_timeout: PgDuration = Field(
        "10s", description="lock wait limit while migrating and in the scheduled jobs"
    )
    edition: Literal["auto", "timescale", "apache"] = Field(
        "auto",
        description="TimescaleDB edition to render: auto reads SHOW timescaledb.license "
        "(before the extension exists: debian source -> apache, timescale -> timescale)",
    )
    retention_schedule: OnCalendar = Field(
        "*-*-* 03:15:00", description="OnCalendar of the retention job (apache edition)"
    )


class BenchSpec(SpecModel):
    """Thresholds of `python -m bench validate` (defaults: the figures the reference systems
    promise, measured on 1M synthetic rows; see bench/thresholds.py)."""

    insert_rows_per_s: float = Field(
        10_000, description="batched INSERT (500 rows) via pgBouncer, rows/s at least", gt=0
    )
    range_1h_ms: float = Field(100, description="1-hour range of one vehicle, p95 ms at most", gt=0)
    latest_row_ms: float = Field(
        10, description="latest row of every vehicle (LATERAL), p95 ms at most", gt=0
    )
    aggregate_ms: float = Field(500, description="1-day aggregate from raw, p95 ms at most", gt=0)
    rollup_speedup: float = Field(
        10, description="1-day aggregate: raw median / rollup median, at least", gt=0
    )
