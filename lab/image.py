"""The lab's host image: Debian trixie with systemd, built once and cached by recipe hash."""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path

import docker
from docker.errors import APIError, BuildError, ImageNotFound

from lab.engine import LabError

RECIPE_DIR = Path(__file__).parent / "image"
MIRROR = "http://deb.debian.org/debian"
SUITE = "trixie"
REPOSITORY = "timestack-lab"


def recipe_hash() -> str:
    """Changes whenever anything that shapes the image changes."""
    digest = hashlib.sha256(f"{SUITE} {MIRROR}\n".encode())
    for path in sorted(RECIPE_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(RECIPE_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def host_image_tag() -> str:
    return f"{REPOSITORY}/host:{recipe_hash()}"


def ensure_host_image(engine: docker.DockerClient) -> str:
    """Return the tag of the systemd host image, building it only when missing."""
    tag = host_image_tag()
    if _exists(engine, tag):
        return tag
    base = _ensure_base(engine)
    print(f"lab: building {tag} from {base}")
    try:
        engine.images.build(
            path=str(RECIPE_DIR), tag=tag, buildargs={"BASE": base}, rm=True, forcerm=True
        )
    except BuildError as error:
        log = "".join(str(chunk.get("stream", "")) for chunk in error.build_log)
        raise LabError(f"building the lab image failed: {error}\n{log[-3000:]}") from error
    return tag


def _ensure_base(engine: docker.DockerClient) -> str:
    """debian:trixie when a registry answers, else a debootstrapped rootfs imported locally."""
    # Keyed by suite and mirror only: a recipe change must not cost a new debootstrap.
    base_key = hashlib.sha256(f"{SUITE} {MIRROR}".encode()).hexdigest()[:12]
    tag = f"{REPOSITORY}/{SUITE}-base:{base_key}"
    if _exists(engine, tag):
        return tag
    try:
        image = engine.images.pull("debian", SUITE)
        image.tag(tag)
        return tag
    except APIError as error:
        print(f"lab: no registry ({error.explanation}); debootstrapping {SUITE}")
    with tempfile.TemporaryDirectory(prefix="timestack-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run(["debootstrap", "--variant=minbase", SUITE, str(rootfs), MIRROR])
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        _run(["docker", "import", "-", tag], stdin=tar.stdout)
        if tar.wait() != 0:
            raise LabError("tar of the debootstrapped rootfs failed")
    return tag


def _exists(engine: docker.DockerClient, tag: str) -> bool:
    try:
        engine.images.get(tag)
    except ImageNotFound:
        return False
    return True


def _run(args: list[str], stdin: object = None) -> None:
    result = subprocess.run(args, stdin=stdin, capture_output=True, text=True, check=False)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise LabError(f"{' '.join(args)} failed:\n{(result.stderr or result.stdout)[-3000:]}")
