"""The voxel image that crosses every stage boundary, and its files.

``structure.npz`` holds (loaded with ``allow_pickle=False``):

- ``labels``: uint8 array (nx, ny, nz), phase labels of :mod:`fem_twin.phases`; index k runs
  along the thickness from the separator plane (k = 0) to the current collector (k = nz - 1);
- ``voxel_size_um``: edge length of a voxel in um;
- ``design_json``: the :class:`~fem_twin.design.ElectrodeDesign` as JSON ('' when imported);
- ``seed``: random seed (-1 when imported);
- ``source``: 'generated' or the imported file's name;
- ``version``: fem_twin version that wrote the file.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import FileFormatError, InputError
from ..phases import NAMES

STRUCTURE_FILE = "structure.npz"
DESIGN_FILE = "design.json"
VTI_FILE = "structure.vti"


@dataclass(frozen=True)
class VoxelImage:
    """A segmented electrode: phase labels on a regular grid with cubic voxels."""

    labels: np.ndarray
    voxel_size_um: float
    design_json: str = ""
    seed: int = -1
    source: str = "generated"
    version: str = __version__

    def __post_init__(self):
        lab = self.labels
        if not isinstance(lab, np.ndarray) or lab.ndim != 3 or lab.dtype != np.uint8:
            raise InputError("labels", "a 3D uint8 array", getattr(lab, "dtype", type(lab)))
        bad = np.setdiff1d(np.unique(lab), list(NAMES))
        if bad.size:
            raise InputError("labels", f"phase labels in {sorted(NAMES)}", bad.tolist())
        if not (np.isfinite(self.voxel_size_um) and self.voxel_size_um > 0):
            raise InputError("voxel_size_um", "a number > 0 (um)", self.voxel_size_um)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.labels.shape)

    @property
    def size_um(self) -> tuple[float, float, float]:
        """Domain extent (x, y, z) in um."""
        return tuple(n * self.voxel_size_um for n in self.shape)

    @property
    def design(self):
        """The design it was generated from, or None for an imported image."""
        if not self.design_json:
            return None
        from ..design import ElectrodeDesign

        return ElectrodeDesign.from_json(self.design_json)

    # -- files ---------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``structure.npz``, ``structure.vti`` and ``design.json`` into ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            d / STRUCTURE_FILE,
            labels=self.labels,
            voxel_size_um=np.float64(self.voxel_size_um),
            design_json=np.array(self.design_json),
            seed=np.int64(self.seed),
            source=np.array(self.source),
            version=np.array(self.version),
        )
        meta = {
            "design": json.loads(self.design_json) if self.design_json else None,
            "seed": self.seed,
            "source": self.source,
            "shape": list(self.shape),
            "voxel_size_um": self.voxel_size_um,
            "version": self.version,
        }
        if self.design_json:
            meta["target_volume_fraction"] = self.design.volume_fractions().as_dict()
        (d / DESIGN_FILE).write_text(json.dumps(meta, indent=2))
        write_vti(d / VTI_FILE, self.labels, self.voxel_size_um)
        return d / STRUCTURE_FILE

    @classmethod
    def load(cls, path: str | Path) -> "VoxelImage":
        """Read ``structure.npz`` (a file, or a directory holding one)."""
        p = Path(path)
        if p.is_dir():
            p = p / STRUCTURE_FILE
        if not p.exists():
            raise FileFormatError(p, "no such file (run 'fem-twin generate' or 'fem-twin import-image' first)")
        try:
            with np.load(p, allow_pickle=False) as z:
                missing = {"labels", "voxel_size_um"} - set(z.files)
                if missing:
                    raise FileFormatError(p, f"missing arrays {sorted(missing)}")
                labels = z["labels"]
                kw = dict(voxel_size_um=float(z["voxel_size_um"]))
                if "design_json" in z.files:
                    kw["design_json"] = str(z["design_json"])
                if "seed" in z.files:
                    kw["seed"] = int(z["seed"])
                if "source" in z.files:
                    kw["source"] = str(z["source"])
                if "version" in z.files:
                    kw["version"] = str(z["version"])
        except FileFormatError:
            raise
        except ValueError as exc:  # object arrays need pickle: refused
            raise FileFormatError(p, f"not a plain npz (pickled objects are refused): {exc}") from None
        except (OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
            raise FileFormatError(p, f"corrupt or not an npz file ({exc.__class__.__name__}: {exc})") from None
        if labels.dtype != np.uint8:
            raise FileFormatError(p, f"labels must be uint8, found {labels.dtype}")
        try:
            return cls(labels=labels, **kw)
        except InputError as exc:
            raise FileFormatError(p, str(exc)) from None


def write_vti(path: str | Path, labels: np.ndarray, voxel_size_um: float) -> None:
    """Write labels as VTK ImageData cell data ``phase`` (ParaView opens it); spacing in um."""
    import base64
    import struct

    nx, ny, nz = labels.shape
    raw = np.ascontiguousarray(labels.transpose(2, 1, 0)).tobytes()  # x fastest
    payload = base64.b64encode(struct.pack("<Q", len(raw)) + raw).decode()
    h = voxel_size_um
    xml = (
        '<?xml version="1.0"?>\n'
        '<VTKFile type="ImageData" version="1.0" byte_order="LittleEndian" header_type="UInt64">\n'
        f'  <ImageData WholeExtent="0 {nx} 0 {ny} 0 {nz}" Origin="0 0 0" Spacing="{h} {h} {h}">\n'
        f'    <Piece Extent="0 {nx} 0 {ny} 0 {nz}">\n'
        '      <CellData Scalars="phase">\n'
        '        <DataArray type="UInt8" Name="phase" format="binary">\n'
        f"{payload}\n"
        "        </DataArray>\n"
        "      </CellData>\n"
        "    </Piece>\n"
        "  </ImageData>\n"
        "</VTKFile>\n"
    )
    Path(path).write_text(xml)
