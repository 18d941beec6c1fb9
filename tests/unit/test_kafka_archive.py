"""roles.kafka.archive: where the release comes from and its SHA-512, and the shell that
fetches and checks it (run here for real with bash, curl and sha512sum on local files)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from roles.kafka.archive import Archive, ArchiveError, download_script, resolve, sha512_of
from roles.spec import KafkaSpec

PAYLOAD = b"not really a kafka release\n" * 1000
SHA = hashlib.sha512(PAYLOAD).hexdigest()


@pytest.fixture
def release(tmp_path: Path) -> Path:
    path = tmp_path / "kafka_2.13-3.9.1.tgz"
    path.write_bytes(PAYLOAD)
    return path


def kafka(**fields: object) -> KafkaSpec:
    return KafkaSpec.model_validate(fields)


def run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)


def test_local_archive_gets_its_checksum_computed(release: Path) -> None:
    archive = resolve(kafka(archive=str(release)), Path("/elsewhere"))
    assert archive == Archive(str(release), True, release.name, SHA)
    assert archive.cached_path == f"/var/cache/timestack/kafka/{release.name}"


def test_relative_local_archive_is_read_from_the_working_directory(release: Path) -> None:
    archive = resolve(kafka(archive=release.name), release.parent)
    assert (archive.source, archive.sha512) == (str(release), SHA)


def test_local_archive_must_match_a_given_checksum(release: Path) -> None:
    with pytest.raises(ArchiveError, match=r"kafka.archive_sha512: .* has SHA-512 " + SHA):
        resolve(kafka(archive=str(release), archive_sha512="ab" * 64), Path("/"))
    assert resolve(kafka(archive=str(release), archive_sha512=SHA.upper()), Path("/")).local


def test_missing_local_archive_names_the_field_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(
        ArchiveError, match=r"kafka.archive: .*gone.tgz is not a file .*fix the path"
    ):
        resolve(kafka(archive=str(tmp_path / "gone.tgz")), tmp_path)


def test_url_uses_the_pinned_checksum() -> None:
    url = "https://mirror.example.net/kafka/kafka_2.13-3.9.1.tgz?download=1"
    archive = resolve(kafka(archive=url, archive_sha512=SHA), Path("/"))
    assert archive == Archive(url, False, "kafka_2.13-3.9.1.tgz", SHA)


def test_default_archive_is_checked_against_apaches_published_checksum() -> None:
    archive = resolve(kafka(version="3.8.1"), Path("/"))
    url = "https://archive.apache.org/dist/kafka/3.8.1/kafka_2.13-3.8.1.tgz"
    assert archive == Archive(url, False, "kafka_2.13-3.8.1.tgz", None, f"{url}.sha512")


def test_url_without_checksum_is_refused() -> None:
    with pytest.raises(ArchiveError, match=r"kafka\.archive_sha512"):
        resolve(kafka(archive="https://mirror.example.net/k.tgz"), Path("/"))


def test_sha512_of_reads_in_chunks(release: Path) -> None:
    assert sha512_of(release) == SHA


def cached(release: Path, cache: Path, sha: str | None, checksum_url: str | None = None) -> Archive:
    cache.mkdir(exist_ok=True)
    return Archive(release.as_uri(), False, release.name, sha, checksum_url, str(cache))


def test_download_with_pinned_checksum_lands_in_the_cache(release: Path, tmp_path: Path) -> None:
    archive = cached(release, tmp_path / "cache", SHA)
    result = run(download_script(archive))
    assert result.returncode == 0, result.stderr
    assert Path(archive.cached_path).read_bytes() == PAYLOAD
    assert Path(archive.record_path).read_text().strip() == SHA


def test_download_with_wrong_checksum_leaves_nothing(release: Path, tmp_path: Path) -> None:
    archive = cached(release, tmp_path / "cache", "0" * 128)
    result = run(download_script(archive))
    assert result.returncode == 1
    assert f"has SHA-512 {SHA}, expected {'0' * 128}; not installed" in result.stderr
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize(
    "published",
    [
        f"{SHA}  kafka_2.13-3.9.1.tgz\n",  # sha512sum format
        # gpg --print-md format, as on older Apache releases: upper case, split, named
        "kafka_2.13-3.9.1.tgz: "
        + "\n".join(
            " ".join(SHA.upper()[i : i + 8] for i in range(j, min(j + 48, 128), 8))
            for j in range(0, 128, 48)
        )
        + "\n",
    ],
)
def test_published_checksum_formats_are_both_understood(
    release: Path, tmp_path: Path, published: str
) -> None:
    checksum = tmp_path / "kafka_2.13-3.9.1.tgz.sha512"
    checksum.write_text(published)
    archive = cached(release, tmp_path / "cache", None, checksum.as_uri())
    result = run(download_script(archive))
    assert result.returncode == 0, result.stderr
    assert Path(archive.record_path).read_text().strip() == SHA


def test_unusable_published_checksum_stops_before_downloading(
    release: Path, tmp_path: Path
) -> None:
    checksum = tmp_path / "bad.sha512"
    checksum.write_text("<html>mirror error page</html>\n")
    archive = cached(release, tmp_path / "cache", None, checksum.as_uri())
    result = run(download_script(archive))
    assert result.returncode == 1
    assert "no usable SHA-512 at" in result.stderr and "set kafka.archive_sha512" in result.stderr
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_release_apache_does_not_publish_is_named_before_downloading(
    release: Path, tmp_path: Path
) -> None:
    missing = (tmp_path / "kafka_2.13-4.9.9.tgz.sha512").as_uri()
    archive = cached(release, tmp_path / "cache", None, missing)
    result = run(download_script(archive))
    assert result.returncode == 1
    assert f"kafka.version: {missing} could not be fetched (curl says why" in result.stderr
    assert "a release listed at https://archive.apache.org/dist/kafka/ is needed" in result.stderr
    assert list((tmp_path / "cache").iterdir()) == []


def test_sha512_of_a_rewritten_file_is_computed_again(tmp_path: Path) -> None:
    path = tmp_path / "kafka.tgz"
    path.write_bytes(b"first")
    assert sha512_of(path) == hashlib.sha512(b"first").hexdigest()
    path.write_bytes(b"second release")
    assert sha512_of(path) == hashlib.sha512(b"second release").hexdigest()
