"""Re-vendor Swagger UI: ``python -m api.docs.vendor 5.35.0`` (and, through
:class:`Package`, the dashboard's htmx: ``python -m api.dashboard.vendor``).

The reference at ``/docs`` is served from files committed in this package, so that a
``pip install`` serves it with no Node, no CDN and no network. This script is how those
files change: it fetches the given version of the npm package with ``npm pack``, checks
the tarball against the registry's integrity hash, copies the few files the page needs
unmodified (with the licence), and rewrites ``MANIFEST.json`` with the version, that
hash and each file's SHA-256, which a test checks the committed files against. It is a
maintainer's tool, run by hand for an upgrade; nothing runs it at install time.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "swagger-ui-dist"
TARGET = Path(__file__).resolve().parent / "static" / "swagger-ui"
MANIFEST = "MANIFEST.json"
# What the page loads, plus the licence and notices that must travel with it.
FILES = (
    "swagger-ui-bundle.js",
    "swagger-ui.css",
    "favicon-32x32.png",
    "favicon-16x16.png",
    "LICENSE",
    "NOTICE",
    "swagger-ui-bundle.js.LICENSE.txt",
)


@dataclass(frozen=True)
class Package:
    """An npm package vendored into this project: the files taken from it (paths inside
    the package; each is written under its own base name) and the directory they go to."""

    name: str
    files: tuple[str, ...]
    target: Path


SWAGGER_UI = Package(PACKAGE, FILES, TARGET)


class VendorError(RuntimeError):
    pass


def npm(*args: str, cwd: Path | None = None) -> str:
    executable = shutil.which("npm")
    if executable is None:
        raise VendorError("npm is not on PATH (apt-get install npm)")
    completed = subprocess.run(  # noqa: S603  (fixed program, arguments from the maintainer)
        [executable, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise VendorError(f"npm {' '.join(args)} failed: {completed.stderr.strip()}")
    return completed.stdout.strip()


def sri_sha512(blob: bytes) -> str:
    """The Subresource Integrity form npm records: ``sha512-<base64>``."""
    return "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode()


def sha256_of(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def fetch_tarball(version: str, workdir: Path, name: str = PACKAGE) -> tuple[bytes, str]:
    """The package's tarball and the integrity the registry publishes for it."""
    spec = f"{name}@{version}"
    integrity = npm("view", spec, "dist.integrity")
    if not integrity.startswith("sha512-"):
        raise VendorError(f"{spec}: the registry gave no sha512 integrity ({integrity!r})")
    packed = json.loads(npm("pack", spec, "--json", "--silent", cwd=workdir))
    tarball = (workdir / packed[0]["filename"]).read_bytes()
    if sri_sha512(tarball) != integrity:
        raise VendorError(f"{spec}: the tarball does not match the registry's {integrity}")
    return tarball, integrity


def extract(tarball: bytes, files: tuple[str, ...] = FILES) -> dict[str, bytes]:
    """The wanted files, read by name and keyed by base name: nothing in the archive
    chooses where to write."""
    contents: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for name in files:
            member = archive.extractfile(f"package/{name}")
            if member is None:
                raise VendorError(f"{name}: not a file in the package")
            contents[Path(name).name] = member.read()
    return contents


def manifest_of(
    version: str, integrity: str, contents: dict[str, bytes], package: str = PACKAGE
) -> dict[str, object]:
    return {
        "package": package,
        "version": version,
        "integrity": integrity,
        "files": {name: sha256_of(blob) for name, blob in sorted(contents.items())},
    }


def vendor(version: str, package: Package = SWAGGER_UI) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="chronos-vendor-") as workdir:
        tarball, integrity = fetch_tarball(version, Path(workdir), package.name)
    contents = extract(tarball, package.files)
    target = package.target
    target.mkdir(parents=True, exist_ok=True)
    for stale in target.iterdir():
        if stale.is_file():
            stale.unlink()
    for name, blob in contents.items():
        (target / name).write_bytes(blob)
    manifest = manifest_of(version, integrity, contents, package.name)
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(
    argv: list[str] | None = None,
    package: Package = SWAGGER_UI,
    *,
    prog: str = "python -m api.docs.vendor",
    example: str = "5.35.0",
) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument(
        "version", help=f"the {package.name} version, e.g. {example} (exact, no ranges)"
    )
    args = parser.parse_args(argv)
    try:
        manifest = vendor(args.version, package)
    except VendorError as error:
        print(f"vendor: {error}", file=sys.stderr)
        return 1
    print(f"vendored {package.name} {manifest['version']} into {package.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
