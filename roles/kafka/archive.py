"""Where the Kafka release archive comes from, and which SHA-512 it must have.

Three cases, all ending in the same file on the host (ARCHIVE_CACHE/<name>) and checked
there before anything is unpacked:
- a URL with archive_sha512: downloaded on the host, checked against the pinned checksum;
- no archive at all: Apache's archive for the version, checked against the .sha512 Apache
  publishes next to it (fetched on the host too; pin archive_sha512 to trust nothing but
  your own record);
- a local path on the machine running pyinfra: its SHA-512 is computed here (and compared
  with archive_sha512 when given), then the file is uploaded and checked again on the host.
Pure (no pyinfra): the deploy calls `resolve`, the unit tests call everything.
"""

from __future__ import annotations

import functools
import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path

from roles.kafka.config import ARCHIVE_CACHE
from roles.spec import KafkaSpec


class ArchiveError(ValueError):
    """Host data names an archive that cannot be used; the message names field and fix."""


@dataclass(frozen=True)
class Archive:
    source: str  # https:// URL, or an absolute path on the machine running pyinfra
    local: bool
    file_name: str
    sha512: str | None  # None: take the checksum Apache publishes at checksum_url
    checksum_url: str | None = None
    cache_dir: str = ARCHIVE_CACHE
    field: str = "kafka.archive"  # the host data field a checksum failure names

    @property
    def cached_path(self) -> str:
        return f"{self.cache_dir}/{self.file_name}"

    @property
    def record_path(self) -> str:
        """The checksum the cached file was verified against when it arrived."""
        return f"{self.cached_path}.sha512"


def sha512_of(path: Path) -> str:
    """The file's SHA-512, computed once per run for each version of the file (the deploy
    resolves the archive for every broker, and a release archive is some 50 MB)."""
    stat = path.stat()
    return _sha512(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _sha512(path: str, _size: int, _mtime_ns: int) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _local_file(path_text: str, sha512: str | None, field: str, cwd: Path) -> Archive:
    """A file on the machine running pyinfra: its SHA-512 computed here, and compared with
    the one host data pins (`field`_sha512) when there is one."""
    path = (cwd / Path(path_text).expanduser()).resolve()
    if not path.is_file():
        raise ArchiveError(
            f"{field}: {path} is not a file on the machine running pyinfra; fix the path"
        )
    actual = sha512_of(path)
    if sha512 and sha512 != actual:
        raise ArchiveError(
            f"{field}_sha512: {path} has SHA-512 {actual}, host data says {sha512}; the file "
            "changed or the checksum is stale: check where the file came from, then update one "
            "of them"
        )
    return Archive(str(path), True, path.name, actual, field=field)


def _file_name(url: str) -> str:
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def resolve(kafka: KafkaSpec, cwd: Path) -> Archive:
    if kafka.archive is not None and kafka.archive_is_local:
        return _local_file(kafka.archive, kafka.archive_sha512, "kafka.archive", cwd)
    url = kafka.archive_url
    name = _file_name(url)
    if kafka.archive_sha512:
        return Archive(url, False, name, kafka.archive_sha512)
    if kafka.archive is None:
        return Archive(url, False, name, None, checksum_url=f"{url}.sha512")
    raise ArchiveError(
        "kafka.archive_sha512: the archive's SHA-512 (128 hex characters) whenever "
        "kafka.archive is a URL"
    )


def resolve_jmx_agent(kafka: KafkaSpec, cwd: Path) -> Archive:
    """The JMX exporter's agent jar, cached beside the release archive: a local file, or a
    URL (Maven Central by default) with a pinned SHA-512 — the default version's is built in.
    No published-checksum mode: Maven Central's own checksums are SHA-1 and MD5."""
    jmx, field = kafka.jmx_exporter, "kafka.jmx_exporter.jar"
    if jmx.jar is not None and jmx.jar_is_local:
        return _local_file(jmx.jar, jmx.jar_sha512, field, cwd)
    if jmx.pinned_sha512 is None:
        raise ArchiveError(
            f"{field}_sha512: the jar's SHA-512 (128 hex characters) for version {jmx.version}"
        )
    return Archive(jmx.jar_url, False, _file_name(jmx.jar_url), jmx.pinned_sha512, field=field)


# Apache publishes either `sha512sum` output ("<hex>  <file>") or gpg --print-md output
# ("<file>: 5A2F0C8F 9E36 …" over several lines). Both reduce to the 128 hex digits:
# drop whitespace, drop everything up to the last ":", keep the first 128 characters.
_PUBLISHED_SUM = "tr -d ' \\t\\r\\n' | sed 's/^.*://' | tr 'A-F' 'a-f' | cut -c1-128"


def download_script(archive: Archive) -> str:
    """Shell that downloads a URL archive to a partial file, checks it, then moves it in place
    and records the checksum it was verified against. Fails without touching the cache."""
    part = f"{archive.cached_path}.part"
    q = shlex.quote
    if archive.sha512:
        want = f"want={q(archive.sha512)}"
    else:
        assert archive.checksum_url is not None
        # Only Apache's archive for kafka.version publishes one: a version it does not have
        # fails here, before anything is downloaded.
        want = (
            f"want=$(curl -fsSL --retry 3 {q(archive.checksum_url)}) || {{ printf "
            "'kafka.version: %s could not be fetched (curl says why above): a release listed "
            "at https://archive.apache.org/dist/kafka/ is needed (or kafka.archive where that "
            "site is out of reach); not installed\\n' "
            f"{q(archive.checksum_url)} >&2; exit 1; }}; "
            f'want=$(printf "%s" "$want" | {_PUBLISHED_SUM}) && '
            f'case "$want" in *[!0-9a-f]*|"") false;; esac && [ ${{#want}} -eq 128 ] || '
            f"{{ printf 'no usable SHA-512 at %s; set {archive.field}_sha512\\n' "
            f"{q(archive.checksum_url)} >&2; exit 1; }}"
        )
    return f"{want} && curl -fsSL --retry 3 -o {q(part)} {q(archive.source)} && " + verify_and_move(
        part, archive
    )


def verify_and_move(part: str, archive: Archive) -> str:
    """Check `part` against $want, then move it to the cache (readable by the broker's user:
    the JMX agent's jar is loaded from there) and record $want."""
    q = shlex.quote
    return (
        f'got=$(sha512sum {q(part)} | cut -d" " -f1) && if [ "$got" != "$want" ]; then '
        f"rm -f {q(part)}; printf '{archive.field}: %s has SHA-512 %s, expected %s; not "
        f'installed\\n\' {q(archive.source)} "$got" "$want" >&2; exit 1; fi && '
        f"chmod 0644 {q(part)} && mv {q(part)} {q(archive.cached_path)} && "
        f"printf '%s\\n' \"$want\" > {q(archive.record_path)}"
    )
