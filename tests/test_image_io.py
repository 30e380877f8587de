"""structure.npz / vti files and the import of segmented images."""

import numpy as np
import pytest

from fem_twin import phases
from fem_twin.errors import FileFormatError, InputError
from fem_twin.microstructure.image import VoxelImage
from fem_twin.microstructure.image_io import import_image, parse_label_map


def _labels(shape=(6, 5, 4)):
    rng = np.random.default_rng(0)
    return rng.integers(0, 4, size=shape).astype(np.uint8)


def test_npz_roundtrip_and_vti(tmp_path):
    img = VoxelImage(labels=_labels(), voxel_size_um=0.4, seed=7)
    img.save(tmp_path)
    back = VoxelImage.load(tmp_path)
    assert np.array_equal(back.labels, img.labels)
    assert back.voxel_size_um == 0.4 and back.seed == 7 and back.design is None
    import pyvista as pv

    grid = pv.read(tmp_path / "structure.vti")
    assert grid.n_cells == img.labels.size
    assert grid.spacing == pytest.approx((0.4, 0.4, 0.4))
    # cell data in VTK order (x fastest) holds the same labels
    assert np.array_equal(np.asarray(grid.cell_data["phase"]), img.labels.ravel(order="F"))


def test_pickled_npz_refused(tmp_path):
    p = tmp_path / "structure.npz"
    np.savez(p, labels=np.array([{"a": 1}], dtype=object), voxel_size_um=0.5)
    with pytest.raises(FileFormatError, match="pickled"):
        VoxelImage.load(p)


def test_corrupt_npz_refused(tmp_path):
    p = tmp_path / "structure.npz"
    p.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(FileFormatError, match="corrupt"):
        VoxelImage.load(p)
    with pytest.raises(FileFormatError, match="no such file"):
        VoxelImage.load(tmp_path / "missing")


def test_npz_with_bad_labels_refused(tmp_path):
    p = tmp_path / "structure.npz"
    np.savez(p, labels=np.full((3, 3, 3), 9, np.uint8), voxel_size_um=0.5)
    with pytest.raises(FileFormatError, match="phase labels"):
        VoxelImage.load(p)


def test_import_npy_raw_tiff_agree(tmp_path):
    import tifffile

    src = np.zeros((8, 7, 6), np.uint8)
    src[2:5, 1:4, :] = 255  # NCM
    src[5:, :, 2:] = 128  # LPSCl
    np.save(tmp_path / "a.npy", src)
    src.transpose(2, 1, 0).tofile(tmp_path / "a.raw")  # x fastest
    tifffile.imwrite(tmp_path / "a.tif", src.transpose(2, 1, 0))  # pages = z
    m = parse_label_map("ncm=255,lpscl=128,pore=0")
    a = import_image(tmp_path / "a.npy", m, 0.5)
    b = import_image(tmp_path / "a.raw", m, 0.5, shape=(8, 7, 6))
    c = import_image(tmp_path / "a.tif", m, 0.5)
    expect = np.where(src == 255, phases.NCM, np.where(src == 128, phases.LPSCL, phases.PORE))
    for img in (a, b, c):
        assert np.array_equal(img.labels, expect)


def test_import_unknown_label_is_an_error(tmp_path):
    src = np.array([0, 1, 2, 7], np.uint8).reshape(1, 2, 2).repeat(3, axis=0)
    np.save(tmp_path / "x.npy", src)
    with pytest.raises(InputError) as exc:
        import_image(tmp_path / "x.npy", parse_label_map("ncm=1,lpscl=2,pore=0"), 0.5)
    assert "unmapped values" in str(exc.value) and "7" in str(exc.value)


@pytest.mark.parametrize("text", ["ncm", "ncm=a", "cathode=1", "lpscl=2"])
def test_bad_label_map(text):
    with pytest.raises(InputError, match="--labels"):
        parse_label_map(text)


def test_raw_size_mismatch(tmp_path):
    np.zeros(10, np.uint8).tofile(tmp_path / "r.raw")
    with pytest.raises(FileFormatError, match="needs 27"):
        import_image(tmp_path / "r.raw", {"ncm": 0}, 0.5, shape=(3, 3, 3))
