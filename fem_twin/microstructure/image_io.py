"""Import segmented images (real tomography) into a :class:`VoxelImage`.

Supported files:

- ``.npy``: a 3D integer array indexed (x, y, z), z along the thickness (separator side first);
- ``.raw`` / ``.bin``: headerless binary; needs ``shape=(nx, ny, nz)`` and ``dtype``; stored with x
  fastest (ParaView/ImageJ order, i.e. C order (z, y, x)) unless ``order='xyz'`` (C order (x, y, z));
- ``.tif`` / ``.tiff``: a multi-page TIFF, one page per z slice (page = (y, x) image).

``labels`` maps phase names (ncm, lpscl, nbr, pore) to the values found in the file. Every value
in the file must be mapped; an unmapped value is an error, never silently a pore.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FileFormatError, InputError
from ..phases import PHASES
from .image import VoxelImage


def parse_label_map(text: str) -> dict[str, int]:
    """Parse ``"ncm=1,lpscl=2,pore=0"`` into {phase name: file value}."""
    out: dict[str, int] = {}
    for item in filter(None, (s.strip() for s in str(text).split(","))):
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or name not in PHASES:
            raise InputError("--labels", f"NAME=VALUE pairs with NAME in {list(PHASES)}", item)
        try:
            out[name] = int(value)
        except ValueError:
            raise InputError("--labels", f"an integer value for {name}", value) from None
    if "ncm" not in out:
        raise InputError("--labels", "a value for ncm (the active material)", text)
    return out


def read_array(path: str | Path, shape: tuple[int, int, int] | None = None, dtype: str = "uint8",
               order: str = "zyx") -> np.ndarray:
    """Read a 3D label array indexed (x, y, z) from ``.npy``, raw binary or multi-page TIFF."""
    p = Path(path)
    if not p.exists():
        raise FileFormatError(p, "no such file")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except ValueError as exc:
            raise FileFormatError(p, f"not a plain .npy array (pickled objects are refused): {exc}") from None
    elif suffix in (".tif", ".tiff"):
        import tifffile

        import logging

        log = logging.getLogger("tifffile")
        was = log.disabled
        log.disabled = True  # its warnings would come before our one-line error
        try:
            arr = np.asarray(tifffile.imread(p))  # (z, y, x)
        except Exception as exc:  # tifffile raises many types
            raise FileFormatError(p, f"not a readable TIFF ({exc})") from None
        finally:
            log.disabled = was
        if arr.ndim != 3:
            raise FileFormatError(p, f"expected a multi-page TIFF (3D), found {arr.ndim}D")
        arr = arr.transpose(2, 1, 0)
    elif suffix in (".raw", ".bin", ".dat"):
        if shape is None:
            raise InputError("--shape", "NX,NY,NZ for a raw file")
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise InputError("--dtype", "a numpy dtype name such as uint8 or uint16", dtype) from None
        data = np.fromfile(p, dtype=dt)
        nx, ny, nz = shape
        if data.size != nx * ny * nz:
            raise FileFormatError(p, f"holds {data.size} values of {dt}, shape {shape} needs {nx * ny * nz}")
        if order == "zyx":
            arr = data.reshape(nz, ny, nx).transpose(2, 1, 0)
        elif order == "xyz":
            arr = data.reshape(nx, ny, nz)
        else:
            raise InputError("--order", "zyx (x fastest) or xyz", order)
    else:
        raise FileFormatError(p, "unknown image type; expected .npy, .raw/.bin or .tif/.tiff")
    if arr.ndim != 3:
        raise FileFormatError(p, f"expected a 3D array, found shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer) and not np.issubdtype(arr.dtype, np.bool_):
        raise FileFormatError(p, f"expected integer labels, found {arr.dtype}")
    return arr


def import_image(path: str | Path, labels: dict[str, int], voxel_um: float,
                 shape: tuple[int, int, int] | None = None, dtype: str = "uint8",
                 order: str = "zyx") -> VoxelImage:
    """Read a segmented image and map its values to fem_twin phase labels."""
    if not (np.isfinite(voxel_um) and voxel_um > 0):
        raise InputError("--voxel", "a voxel size > 0 (um)", voxel_um)
    arr = read_array(path, shape, dtype, order)
    info = np.iinfo(arr.dtype) if np.issubdtype(arr.dtype, np.integer) else np.iinfo(np.uint8)
    lo, hi = (0, 1) if arr.dtype == np.bool_ else (int(info.min), int(info.max))
    for name, v in labels.items():
        if not lo <= v <= hi:
            raise InputError("--labels", f"label values in [{lo}, {hi}], the range of the file's {arr.dtype}",
                             f"{name}={v} (label value out of range)")
    values = np.unique(arr)
    mapped = set(labels.values())
    unknown = [int(v) for v in values if int(v) not in mapped]
    if unknown:
        raise InputError("--labels", f"a phase for every value in {Path(path).name}; unmapped values",
                         unknown)
    if len(mapped) != len(labels):
        raise InputError("--labels", "a different file value for each phase", labels)
    lut = np.zeros(int(max(max(mapped), values.max())) + 1, dtype=np.uint8)
    for name, v in labels.items():
        if v < 0:
            raise InputError("--labels", "values >= 0", v)
        lut[v] = PHASES[name]
    out = lut[arr.astype(np.int64, copy=False)] if arr.dtype != np.uint8 else lut[arr]
    return VoxelImage(labels=out.astype(np.uint8), voxel_size_um=float(voxel_um),
                      source=Path(path).name)
