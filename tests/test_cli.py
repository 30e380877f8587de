"""The fem-twin command line, end to end, and its one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fem_twin.cli import main
from fem_twin.microstructure.image import VoxelImage


def test_generate_then_analyze(tmp_path, capsys):
    out = tmp_path / "s"
    rc = main(["generate", "--composition", "70:28:2", "--seed", "2", "--size", "20,20", "-o", str(out)])
    assert rc == 0
    for f in ("structure.npz", "structure.vti", "design.json"):
        assert (out / f).exists()
    img = VoxelImage.load(out)
    assert img.shape == (40, 40, 78) and img.seed == 2
    design = json.loads((out / "design.json").read_text())
    assert design["design"]["composition"] == {"ncm": 70.0, "lpscl": 28.0, "nbr": 2.0}
    rc = main(["analyze", str(out)])
    assert rc == 0
    report = json.loads((out / "analysis.json").read_text())
    for key in ("volume_fraction", "target_volume_fraction", "dead_fraction", "percolates",
                "contact_area_density_per_m"):
        assert key in report
    for name in ("ncm", "lpscl", "nbr", "pore"):
        assert abs(report["volume_fraction"][name] - report["target_volume_fraction"][name]) < 0.02
    assert set(report["contact_area_density_per_m"]) >= {"raw", "corrected"}
    printed = capsys.readouterr().out
    lpscl = " / ".join(f"{b['volume_fraction']['lpscl']:.3f}" for b in report["through_thickness"])
    assert f"LPSCl volume fraction            {lpscl}" in printed
    assert (out / "slices.png").stat().st_size > 10_000
    assert (out / "render3d.png").stat().st_size > 10_000


def test_import_image_cli(tmp_path):
    src = np.zeros((6, 6, 5), np.uint8)
    src[:, :, 2:] = 3
    np.save(tmp_path / "seg.npy", src)
    rc = main(["import-image", str(tmp_path / "seg.npy"), "--labels", "ncm=3,pore=0", "--voxel", "0.25",
               "-o", str(tmp_path / "imp")])
    assert rc == 0
    img = VoxelImage.load(tmp_path / "imp")
    assert img.voxel_size_um == 0.25 and (img.labels == 1).sum() == 6 * 6 * 3


@pytest.mark.parametrize(
    "argv,field",
    [
        (["generate", "--composition", "70:28:5", "-o", "X"], "composition"),
        (["generate", "--voxel", "-1", "-o", "X"], "voxel_um"),
        (["generate", "--size", "0,50", "-o", "X"], "size_x_um"),
        (["generate", "--size", "10,10", "-o", "X"], "domain size"),
        (["generate", "--size", "50", "-o", "X"], "--size"),
        (["analyze", "DOES_NOT_EXIST"], "no such file"),
    ],
)
def test_bad_input_one_line_error(argv, field, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and field in err, err


def test_bad_import_cli(tmp_path, capsys):
    np.save(tmp_path / "seg.npy", np.arange(8, dtype=np.uint8).reshape(2, 2, 2))
    rc = main(["import-image", str(tmp_path / "seg.npy"), "--labels", "ncm=1,pore=0", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "unmapped values" in err and len(err.splitlines()) == 1


def test_console_script_runs(tmp_path):
    exe = Path(sys.executable).with_name("fem-twin")
    r = subprocess.run([str(exe), "generate", "--composition", "60:38:2", "-o", str(tmp_path / "p"),
                        "--size", "20,20", "--seed", "5"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(exe), "generate", "--composition", "60:30:2", "-o", str(tmp_path / "q")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "composition" in r.stderr and "Traceback" not in r.stderr
