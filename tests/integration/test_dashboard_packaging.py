"""The dashboard ships whole: htmx matches its manifest, and a wheel installed in a fresh
virtualenv (no source tree in sight) serves /ui and every asset it names."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

from api.dashboard.render import FILES
from api.dashboard.vendor import HTMX
from tests.wheel import build_wheel

SERVE = textwrap.dedent(
    """
    import json, re, sys
    from datetime import UTC, datetime
    from falcon import testing
    import api
    from api.app import create_app
    from shared.clock import FixedClock
    from shared.settings import load_settings

    settings = load_settings({"CHRONOS_JWT_SECRET": "s" * 40})
    client = testing.TestClient(create_app(settings, clock=FixedClock(datetime.now(UTC))))
    page = client.simulate_get("/ui/login")
    assets = re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', page.text)
    answers = {path: client.simulate_get(path).status_code for path in assets}
    print(json.dumps({"from": api.__file__, "page": page.status_code, "assets": answers}))
    """
)


def test_the_vendored_htmx_matches_its_manifest() -> None:
    manifest = json.loads((HTMX.target / "MANIFEST.json").read_text())
    assert manifest["package"] == "htmx.org"
    assert manifest["version"].startswith("2.0.")  # htmx 2: 4.x changes the attributes
    for name, expected in manifest["files"].items():
        actual = hashlib.sha256((HTMX.target / name).read_bytes()).hexdigest()
        assert actual == expected, f"{name}: changed since it was vendored"
    on_disk = {path.name for path in HTMX.target.iterdir()} - {"MANIFEST.json"}
    assert on_disk == set(manifest["files"])


def test_a_wheel_in_a_fresh_virtualenv_serves_the_dashboard(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)

    # A fresh virtualenv with the wheel alone; its dependencies come from this one's
    # site-packages, read through a .pth (no network here), but not this checkout.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    target = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", target, str(wheel)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    (Path(target) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    served = subprocess.run(
        [str(python), "-I", "-c", SERVE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert served.returncode == 0, served.stderr[-3000:]
    answer = json.loads(served.stdout.strip().splitlines()[-1])
    assert answer["from"].startswith(target), answer["from"]  # the wheel's copy
    assert answer["page"] == 200
    assert {path.rsplit("/", 1)[1] for path in answer["assets"]} == set(FILES)
    assert set(answer["assets"].values()) == {200}
