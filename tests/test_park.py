"""``docs/data/park.sh``: the studies' running checkpoints kept in refs/fem-twin/parked (not on a
branch, so not in a clone) and put back only where the case is not complete and has none."""

import shutil
import subprocess
from pathlib import Path

import pytest

PARK = Path(__file__).resolve().parents[1] / "docs" / "data" / "park.sh"


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_park_save_restore_and_clone(tmp_path):
    repo = tmp_path / "repo"
    (repo / "docs" / "data").mkdir(parents=True)
    shutil.copy(PARK, repo / "docs" / "data" / "park.sh")
    (repo / ".gitignore").write_text("checkpoint.npz\n")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    running = repo / "docs" / "data" / "study" / "ncm60_seed1" / "c1C"
    done = repo / "docs" / "data" / "study" / "ncm80_seed1" / "c1C"
    for d, content in ((running, b"\x00running" * 1000), (done, b"done")):
        d.mkdir(parents=True)
        (d / "checkpoint.npz").write_bytes(content)
    (running / "discharge.json").write_text('{"complete": false, "running": true}')
    cache = running.parent / ".fem_twin_cache"
    cache.mkdir()
    (cache / "transport-match-abc.json").write_text('{"factor": 0.7}')
    (cache / "smooth-mesh-abc.npz").write_bytes(b"big")  # (meshes are not parked)

    def park(what):
        p = subprocess.run(["bash", str(repo / "docs" / "data" / "park.sh"), what], capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(tmp_path)})
        assert p.returncode == 0, p.stderr
        return p.stdout

    (done / "discharge.json").write_text('{"complete": true, "capacity_mAh_per_g": 90}')
    out = park("save")
    assert out.count("parked ") == 2 and "ncm80" not in out  # a complete case's checkpoint is not kept
    (done / "discharge.json").unlink()
    assert park("save").count("parked ") == 3
    assert _git(repo, "status", "--porcelain", "--untracked-files=no") == ""  # nothing staged or committed
    for f in (running / "checkpoint.npz", done / "checkpoint.npz", cache / "transport-match-abc.json",
              cache / "smooth-mesh-abc.npz"):
        f.unlink()
    (done / "discharge.json").write_text('{"complete": true, "capacity_mAh_per_g": 100}')  # it finished meanwhile
    out = park("restore")
    assert (running / "checkpoint.npz").read_bytes() == b"\x00running" * 1000
    assert not (done / "checkpoint.npz").exists() and "skipped" in out and "complete" in out
    assert (cache / "transport-match-abc.json").read_text() == '{"factor": 0.7}'
    assert not (cache / "smooth-mesh-abc.npz").exists()
    (running / "checkpoint.npz").write_bytes(b"newer")
    assert "kept" in park("restore") and (running / "checkpoint.npz").read_bytes() == b"newer"
    # a clone does not fetch the parked checkpoints; saving again replaces them
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    assert "refs/fem-twin/parked" not in _git(clone, "for-each-ref")
    park("save")
    assert "docs/data/study/ncm60_seed1/c1C/checkpoint.npz" in park("list") and "ncm80" not in park("list")
