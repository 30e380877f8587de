"""Pictures of a voxel structure (the seed's Fig. 1a-c), written as PNG files.

- ``slices.png``: three orthogonal mid-plane slices (xy at mid z, xz at mid y, yz at mid x)
  coloured by phase, axes in um, z from the separator (0) up to the current collector;
- ``render3d.png``: pyvista off-screen rendering; left all solid phases with a cut-away corner,
  right the NCM alone. When pyvista/VTK cannot render, a coarse matplotlib voxel rendering is
  written instead and its title says so.

A failing picture never raises: it is reported with :func:`warnings.warn` and skipped.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..phases import LPSCL, NBR, NCM, PORE

#: phase label -> (legend name, colour)
PHASE_STYLE: dict[int, tuple[str, str]] = {
    PORE: ("pore", "#1a1a1a"),
    NCM: ("NCM", "#5b7fb5"),
    LPSCL: ("LPSCl", "#e8c547"),
    NBR: ("NBR", "#3fa34d"),
}

SLICES_FILE = "slices.png"
RENDER_FILE = "render3d.png"


def save_pictures(image, directory: str | Path) -> list[Path]:
    """Write ``slices.png`` and ``render3d.png`` of ``image`` (a VoxelImage) into ``directory``;
    return the paths written (a picture that failed is missing from the list)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fn in ((SLICES_FILE, save_slices), (RENDER_FILE, save_render3d)):
        try:
            written.append(fn(image, d / name))
        except Exception as exc:  # a picture must never stop the analysis
            warnings.warn(f"{name} not written: {exc.__class__.__name__}: {exc}", RuntimeWarning, stacklevel=2)
    return written


def _title(image) -> str:
    nx, ny, nz = image.shape
    lx, ly, lz = image.size_um
    counts = np.bincount(image.labels.ravel(), minlength=4) / image.labels.size
    frac = ", ".join(f"{PHASE_STYLE[k][0]} {100 * counts[k]:.1f}%" for k in (NCM, LPSCL, NBR, PORE))
    return f"{nx}x{ny}x{nz} voxels ({lx:g} x {ly:g} x {lz:g} um), {frac}"


def save_slices(image, path: str | Path) -> Path:
    """Three orthogonal mid slices coloured by phase, with a legend (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    lab = image.labels
    h = image.voxel_size_um
    nx, ny, nz = lab.shape
    cmap = ListedColormap([PHASE_STYLE[k][1] for k in range(4)])
    norm = BoundaryNorm(np.arange(-0.5, 4.5), cmap.N)
    views = [
        (lab[:, :, nz // 2].T, (0, nx * h, 0, ny * h), "x (um)", "y (um)", f"xy at z = {(nz // 2 + 0.5) * h:.2f} um"),
        (lab[:, ny // 2, :].T, (0, nx * h, 0, nz * h), "x (um)", "z (um)", f"xz at y = {(ny // 2 + 0.5) * h:.2f} um"),
        (lab[nx // 2, :, :].T, (0, ny * h, 0, nz * h), "y (um)", "z (um)", f"yz at x = {(nx // 2 + 0.5) * h:.2f} um"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.4), layout="constrained")
    for ax, (img, ext, xl, yl, title) in zip(axes, views):
        ax.imshow(img, origin="lower", extent=ext, cmap=cmap, norm=norm, interpolation="nearest")
        ax.set(xlabel=xl, ylabel=yl, title=title)
    handles = [Patch(color=PHASE_STYLE[k][1], label=PHASE_STYLE[k][0]) for k in (NCM, LPSCL, NBR, PORE)]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, frameon=False)
    fig.suptitle(f"Mid slices (z = 0 separator, z = top current collector)\n{_title(image)}")
    p = Path(path)
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p


def save_render3d(image, path: str | Path) -> Path:
    """3D rendering with pyvista off-screen; matplotlib voxel fallback (said in the title)."""
    p = Path(path)
    try:
        _render_pyvista(image, p)
    except Exception as exc:
        _render_matplotlib(image, p, f"matplotlib fallback: pyvista failed ({exc.__class__.__name__}: {exc})")
    return p


def voxel_surface(mask: np.ndarray, h: float, origin=(0.0, 0.0, 0.0)):
    """pyvista PolyData of the exposed voxel faces of ``mask`` (quads, coordinates in um).

    A face is exposed when the neighbouring voxel is outside ``mask`` or outside the array.
    """
    import pyvista as pv

    m = np.pad(np.asarray(mask, bool), 1)
    quads = []
    # corner offsets of a face normal to each axis, in the two other axes' order
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]])
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        for step in (-1, 1):
            exposed = m & ~np.roll(m, -step, axis=axis)
            idx = np.argwhere(exposed[1:-1, 1:-1, 1:-1]).astype(np.float64)  # voxel lower corners
            if idx.size == 0:
                continue
            if step == 1:
                idx[:, axis] += 1.0
            corners = np.repeat(idx[:, None, :], 4, axis=1)
            corners[:, :, others[0]] += square[:, 0]
            corners[:, :, others[1]] += square[:, 1]
            quads.append(corners)
    if not quads:
        return pv.PolyData()
    pts = np.concatenate(quads).reshape(-1, 3) * h + np.asarray(origin, float)
    n = pts.shape[0] // 4
    faces = np.column_stack([np.full(n, 4), np.arange(4 * n).reshape(n, 4)]).ravel()
    return pv.PolyData(pts, faces=faces)


def _render_pyvista(image, path: Path) -> None:
    import pyvista as pv

    pv.OFF_SCREEN = True
    lab = image.labels
    h = image.voxel_size_um
    nx, ny, nz = lab.shape
    cut = np.zeros(lab.shape, bool)  # cut-away corner facing the camera: high x, high y, upper half
    cut[nx // 2:, ny // 2:, nz // 2:] = True
    qx, qy = max(1, nx // 2), max(1, ny // 2)  # right panel: NCM in the low-x, low-y quarter
    panels = (
        ((NCM, LPSCL, NBR), lab, ~cut, (0.0, 0.0, 0.0), "NCM, LPSCl, NBR (corner cut away; pores empty)"),
        ((NCM,), lab[:qx, :qy, :], None, (0.0, 0.0, 0.0),
         f"NCM only, {qx * h:g} x {qy * h:g} um corner (bumpy primaries, inner pores)"),
    )
    pl = pv.Plotter(off_screen=True, shape=(1, 2), window_size=(1600, 800), border=False)
    pl.set_background("white")
    for col, (shown, sub, keep, origin, text) in enumerate(panels):
        pl.subplot(0, col)
        for k in shown:
            mask = sub == k
            if keep is not None:
                mask &= keep
            if not mask.any():
                continue
            name, colour = PHASE_STYLE[k]
            pl.add_mesh(voxel_surface(mask, h, origin), color=colour, label=name,
                        ambient=0.35, diffuse=0.7, specular=0.0)
        pl.add_text(text, font_size=10, color="black")
        pl.show_bounds(xtitle="x (um)", ytitle="y (um)", ztitle="z (um)", color="black", font_size=8,
                       location="outer", ticks="outside", n_xlabels=3, n_ylabels=3, n_zlabels=3, fmt="%.0f")
        pl.add_axes(color="black", line_width=2)
        pl.view_isometric()
        pl.camera.zoom(0.9)
        if col == 0:
            pl.add_legend(bcolor="white", face="rectangle", size=(0.12, 0.1), loc="upper right")
            pl.add_text(_title(image), position="lower_left", font_size=8, color="black")
    pl.screenshot(str(path))
    pl.close()


def _render_matplotlib(image, path: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lab = image.labels
    step = max(1, int(np.ceil(max(lab.shape) / 20)))  # at most ~20 voxels per side (slow otherwise)
    sub = lab[::step, ::step, ::step]
    colours = np.empty(sub.shape, dtype=object)
    filled = np.zeros(sub.shape, bool)
    for k in (NCM, LPSCL, NBR):
        m = sub == k
        colours[m] = PHASE_STYLE[k][1]
        filled |= m
    fig = plt.figure(figsize=(8, 8))
    ax = fig.add_subplot(projection="3d")
    ax.voxels(filled, facecolors=colours, edgecolor=None)
    ax.set(xlabel=f"x (voxels/{step})", ylabel=f"y (voxels/{step})", zlabel=f"z (voxels/{step})")
    ax.set_title(f"{note}\n{_title(image)}", fontsize=8)
    fig.savefig(path, dpi=100)
    plt.close(fig)
