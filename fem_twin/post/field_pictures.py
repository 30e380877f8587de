"""Field pictures of a discharge like the seed's Figs. 4-6, rendered off-screen from the XDMF files.

A discharge run (:mod:`fem_twin.fem.discharge_io`) writes ``fields_ncm.xdmf`` (lithiation =
c_s/c_max, c_s in mol/m3, phi_s in V; P1), ``fields_electrolyte.xdmf`` (phi_e in V, c_e in
mol/m3: P1; i_e in A/m2 and li_flux = i_e/F in mol/(m2 s): one vector per cell) and
``fields_interface.xdmf`` (eta in V, j in A/m2, > 0 anodic: P1 on the triangles of the
NCM | LPSCl facets), plus ``fields_*_restart<N>.xdmf`` after restarts; coordinates in um, z from
the Li | separator face (0) to the current collector. They are read here with the standard
library's XML parser and h5py (no DOLFINx: h5py and DOLFINx's HDF5 must not share a process).

Pictures (pyvista off-screen, isometric view from +x +y +z, the corner x > X/2, y > Y/2 in the
upper half of the composite cut away so particle interiors show; a matplotlib point cloud when
pyvista cannot render, said in the title):

- :func:`render_case`: one PNG per depth of discharge ``fields_dod<D>.png``, one panel per
  quantity (default: NCM lithiation (Fig. 4), Li+ flux magnitude in the LPSCl (Fig. 5), surface
  overpotential eta on the NCM | LPSCl interface (Fig. 6)), each with its own colour scale;
- :func:`render_comparison`: cases side by side (columns, e.g. 60/70/80 wt%) at one depth of
  discharge, one row per quantity, one colour scale per row.

A depth of discharge (DOD) is the fraction of the discharge's duration (first discharging
protocol step of ``discharge.csv``); the nearest written frame is used and its own DOD, time,
voltage and capacity are printed on the panel. Fields are written every few steps, so the
picture may be at a nearby DOD; 'end' (= 1) is always written.
"""

from __future__ import annotations

import json
import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, InputError

PARTS = ("ncm", "electrolyte", "interface")
XINCLUDE = "include"
_CELL_TYPES = {"tetrahedron": (10, 4), "triangle": (5, 3)}  # VTK cell type, nodes per cell


@dataclass(frozen=True)
class Quantity:
    """A rendered field: the XDMF part and function name, the label (with units) and colour map;
    vectors are shown as their magnitude; ``robust`` colour limits are the 1-99th percentiles."""

    part: str
    name: str
    label: str
    cmap: str
    robust: bool = False


QUANTITIES = {
    "lithiation": Quantity("ncm", "lithiation", "NCM lithiation c_s/c_max (-)", "viridis"),
    "c_s": Quantity("ncm", "c_s", "NCM Li concentration c_s (mol/m3)", "viridis"),
    "phi_s": Quantity("ncm", "phi_s", "NCM potential phi_s (V)", "cividis"),
    "flux": Quantity("electrolyte", "li_flux", "Li+ flux |i_e|/F in LPSCl (mol m-2 s-1)", "plasma", True),
    "i_e": Quantity("electrolyte", "i_e", "ionic current density |i_e| in LPSCl (A/m2)", "plasma", True),
    "phi_e": Quantity("electrolyte", "phi_e", "LPSCl potential phi_e (V)", "cividis"),
    "c_e": Quantity("electrolyte", "c_e", "LPSCl Li+ concentration c_e (mol/m3)", "viridis"),
    "eta": Quantity("interface", "eta", "surface overpotential eta (V) on NCM-LPSCl", "coolwarm", True),
    "j": Quantity("interface", "j", "interface current density j (A/m2, > 0 anodic)", "coolwarm", True),
}
DEFAULT_QUANTITIES = ("lithiation", "flux", "eta")


def parse_dods(text: str) -> list[float]:
    """``"0.2,0.5,end"`` -> [0.2, 0.5, 1.0]: fractions of the discharge's duration in [0, 1]."""
    out = []
    for item in str(text).split(","):
        item = item.strip().lower()
        if not item:
            continue
        try:
            v = 1.0 if item == "end" else float(item)
        except ValueError:
            raise InputError("--dod", "comma-separated fractions in [0, 1] or 'end', e.g. 0.2,0.5,end", text) from None
        if not (0.0 <= v <= 1.0):
            raise InputError("--dod", "comma-separated fractions in [0, 1] or 'end', e.g. 0.2,0.5,end", text)
        out.append(v)
    if not out:
        raise InputError("--dod", "comma-separated fractions in [0, 1] or 'end', e.g. 0.2,0.5,end", text)
    return list(dict.fromkeys(out))


def parse_quantities(text: str | None) -> list[str]:
    if text is None:
        return list(DEFAULT_QUANTITIES)
    names = [q.strip() for q in str(text).split(",") if q.strip()]
    if not names or any(q not in QUANTITIES for q in names):
        raise InputError("--quantities", f"comma-separated names from {', '.join(QUANTITIES)}", text)
    return names


def dod_tag(dod: float) -> str:
    return f"dod{dod:.2f}"


# -- XDMF (as DOLFINx writes it) -------------------------------------------------------------------
class XdmfSeries:
    """A DOLFINx XDMF time series: one mesh, per function a list of (time, HDF5 file, dataset, centre)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            root = ET.parse(self.path).getroot()
        except (OSError, ET.ParseError) as exc:
            raise FileFormatError(self.path, f"not a readable XDMF file ({exc})") from None
        domain = root.find("Domain")
        if domain is None:
            raise FileFormatError(self.path, "no Domain element")
        grids = domain.findall("Grid")
        self._meshes = [g for g in grids if g.get("GridType") == "Uniform"]
        if not self._meshes:
            raise FileFormatError(self.path, "no mesh (Uniform Grid)")
        self.frames: dict[str, list[tuple[float, str, str, str, int]]] = {}
        for g in grids:
            if g.get("CollectionType") != "Temporal":
                continue
            for sub in g.findall("Grid"):
                t_el = sub.find("Time")
                if t_el is None:
                    continue
                t = float(t_el.get("Value"))
                mesh_index = 0
                for inc in sub:
                    if inc.tag.endswith(XINCLUDE):
                        m = re.search(r"Grid\[@GridType='Uniform'\]\[(\d+)\]", inc.get("xpointer", ""))
                        mesh_index = int(m.group(1)) - 1 if m else 0
                for att in sub.findall("Attribute"):
                    h5, dset = self._data_ref(att.find("DataItem"))
                    self.frames.setdefault(att.get("Name"), []).append(
                        (t, h5, dset, att.get("Center", "Node"), mesh_index))
        for v in self.frames.values():
            v.sort(key=lambda f: f[0])
        self._mesh_cache: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}

    def _data_ref(self, item) -> tuple[str, str]:
        if item is None or item.get("Format", "XML") != "HDF" or not item.text:
            raise FileFormatError(self.path, "only HDF5 DataItems are supported")
        h5, _, dset = item.text.strip().partition(":")
        return str(self.path.parent / h5), dset

    def times(self, name: str) -> np.ndarray:
        return np.array([f[0] for f in self.frames.get(name, [])])

    def mesh(self, index: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
        """(points (N, 3) in um, cells (M, k) node indices, VTK cell type) of the index-th mesh."""
        if index not in self._mesh_cache:
            import h5py

            g = self._meshes[index]
            topo, geom = g.find("Topology"), g.find("Geometry")
            kind = (topo.get("TopologyType") or "").lower()
            if kind not in _CELL_TYPES:
                raise FileFormatError(self.path, f"cells of type {topo.get('TopologyType')} are not supported")
            th5, tset = self._data_ref(topo.find("DataItem"))
            gh5, gset = self._data_ref(geom.find("DataItem"))
            with h5py.File(th5, "r") as f:
                cells = np.asarray(f[tset][()], np.int64)
            with h5py.File(gh5, "r") as f:
                pts = np.asarray(f[gset][()], np.float64)
            if pts.shape[1] == 2:
                pts = np.column_stack([pts, np.zeros(len(pts))])
            self._mesh_cache[index] = (pts, cells.reshape(len(cells), -1), _CELL_TYPES[kind][0])
        return self._mesh_cache[index]

    def frame(self, name: str, t: float) -> tuple[float, np.ndarray, str, int]:
        """(time, values, centre 'Node' or 'Cell', mesh index) of the frame of ``name`` nearest ``t``;
        vectors become their magnitude."""
        import h5py

        fr = self.frames[name]
        k = int(np.argmin([abs(f[0] - t) for f in fr]))
        tk, h5, dset, centre, mi = fr[k]
        with h5py.File(h5, "r") as f:
            v = np.asarray(f[dset][()], np.float64)
        v = v.reshape(len(v), -1)
        v = v[:, 0] if v.shape[1] == 1 else np.linalg.norm(v, axis=1)
        return tk, v, centre, mi


def series_files(run_dir: Path, part: str) -> list[Path]:
    """fields_<part>.xdmf then fields_<part>_restart<N>.xdmf in restart order."""
    base = run_dir / f"fields_{part}.xdmf"
    rest = sorted(run_dir.glob(f"fields_{part}_restart*.xdmf"),
                  key=lambda p: int(re.search(r"_restart(\d+)\.xdmf$", p.name).group(1))
                  if re.search(r"_restart(\d+)\.xdmf$", p.name) else 0)
    return ([base] if base.exists() else []) + rest


@dataclass
class Frame:
    """The written frame used for a requested depth of discharge (time s, V, mAh/g NCM)."""

    requested: float
    time_s: float
    dod: float
    voltage_V: float | None
    capacity_mAh_per_g: float | None


class CaseFields:
    """The XDMF fields, the discharge window and a label of one discharge output folder."""

    def __init__(self, run_dir: str | Path, label: str | None = None):
        from .discharge_plots import read_curve

        self.run_dir = Path(run_dir)
        self.series = {p: [XdmfSeries(f) for f in series_files(self.run_dir, p)] for p in PARTS}
        if not any(self.series.values()):
            raise InputError("render", "a discharge output folder with fields_*.xdmf (run without --no-fields)",
                             str(self.run_dir))
        self.curve = read_curve(self.run_dir)
        try:
            self.summary = json.loads((self.run_dir / "discharge.json").read_text())
        except (OSError, ValueError):
            self.summary = {}
        self.label = label or self._label()

    def _label(self) -> str:
        parts = []
        for d in (self.run_dir, self.run_dir.parent):
            try:
                meta = json.loads((d / "design.json").read_text())
                parts.append(f"NCM {meta['design']['composition']['ncm']:g} wt%")
                if meta.get("seed", -1) >= 0:
                    parts.append(f"seed {meta['seed']}")
                break
            except (OSError, ValueError, KeyError, TypeError):
                continue
        if not parts:  # output folder away from its structure: its name tells the panels apart
            parts.append(self.run_dir.name)
        steps = self.summary.get("steps") or []
        if steps:
            parts.insert(1 if parts else 0, steps[0].get("description", "").replace("discharge ", ""))
        return ", ".join(parts)

    def window(self) -> tuple[float, float]:
        """Start and end time (s) of the discharge (the first discharging protocol step)."""
        if self.curve is not None and len(self.curve["time_s"]) >= 2:
            return float(self.curve["time_s"][0]), float(self.curve["time_s"][-1])
        ts = np.concatenate([s.times(n) for ss in self.series.values() for s in ss for n in s.frames] or [[0.0]])
        return float(ts.min()), float(ts.max())

    def frame_for(self, dod: float) -> Frame:
        """The written frame nearest ``dod`` of the discharge (on the NCM fields' times)."""
        t0, t1 = self.window()
        times = np.unique(np.concatenate([s.times(n) for p in PARTS for s in self.series[p] for n in s.frames]))
        inside = times[(times >= t0 - 1e-9) & (times <= t1 + 1e-6 * max(1.0, abs(t1)))]
        if inside.size == 0:
            raise InputError("render", f"fields written during the discharge ({t0:g}-{t1:g} s)",
                             f"frames at {times.tolist()[:6]}")
        target = t0 + dod * (t1 - t0)
        t = float(inside[np.argmin(np.abs(inside - target))])
        v = q = None
        if self.curve is not None:
            v = float(np.interp(t, self.curve["time_s"], self.curve["voltage_V"]))
            q = float(np.interp(t, self.curve["time_s"], self.curve["capacity_mAh_per_g"]))
        return Frame(dod, t, (t - t0) / (t1 - t0) if t1 > t0 else 1.0, v, q)

    def values(self, q: Quantity, t: float):
        """(series, mesh index, values, centre) of quantity ``q`` at the frame nearest ``t``, or None."""
        best = None
        for s in self.series[q.part]:
            if q.name not in s.frames:
                continue
            tk = s.times(q.name)
            d = float(np.min(np.abs(tk - t)))
            if best is None or d <= best[0]:  # ties: the later (restart) file
                best = (d, s)
        if best is None:
            return None
        tk, v, centre, mi = best[1].frame(q.name, t)
        return best[1], mi, v, centre

    def domain_bounds(self) -> tuple[float, float, float, float] | None:
        """(X, Y, separator, Z) of the cell in um from discharge.json, or None."""
        m = self.summary.get("mesh") or {}
        try:
            h = float(m["voxel_um"])
            nx, ny, nz = m["voxels"]
            sep = float(m["separator_um"])
        except (KeyError, TypeError, ValueError):
            return None
        return nx * h, ny * h, sep, sep + nz * h


# -- surfaces ----------------------------------------------------------------------------------------
@dataclass
class CaseView:
    """Renderable surfaces of one case: per quantity and DOD a pyvista surface holding the DOD's
    values as the array ``dod<D>`` (the DODs whose frames share a mesh share the surface)."""

    label: str
    frames: dict = field(default_factory=dict)  #: dod -> Frame
    surfaces: dict = field(default_factory=dict)  #: quantity -> {dod: pyvista PolyData}
    missing: list = field(default_factory=list)

    def surface(self, quantity: str, dod: float):
        return (self.surfaces.get(quantity) or {}).get(dod)


def _extract_surface(grid):
    try:
        return grid.extract_surface(algorithm="dataset_surface")
    except TypeError:
        return grid.extract_surface()


def case_view(run_dir: str | Path, dods: list[float], quantities: list[str], cut: bool = True,
              label: str | None = None) -> CaseView:
    """Read one case's fields at ``dods`` and build the (cut-away) surfaces to render."""
    import pyvista as pv

    case = CaseFields(run_dir, label)
    view = CaseView(case.label)
    for d in dods:
        view.frames[d] = case.frame_for(d)
    bounds = case.domain_bounds()
    for qname in quantities:
        q = QUANTITIES[qname]
        grids, members = {}, {}  # (series, mesh) -> grid with one array per DOD, and those DODs
        for d, fr in view.frames.items():
            got = case.values(q, fr.time_s)
            if got is None:
                view.missing.append(f"{qname} ({q.part}:{q.name}) at DOD {d:g}")
                continue
            s, mi, vals, centre = got
            key = (id(s), mi)
            if key not in grids:
                pts, cells, ctype = s.mesh(mi)
                grids[key] = pv.UnstructuredGrid({ctype: cells}, pts)
            g = grids[key]
            target = g.point_data if centre == "Node" else g.cell_data
            if len(vals) != (g.n_points if centre == "Node" else g.n_cells):
                raise FileFormatError(s.path, f"{q.name}: {len(vals)} values for {g.n_points} points / "
                                      f"{g.n_cells} cells")
            target[dod_tag(d)] = vals
            members.setdefault(key, []).append(d)
        view.surfaces[qname] = {}
        for key, g in grids.items():  # several meshes after restarts
            if cut:
                b = g.bounds
                X, Y, sep, Z = bounds if bounds else (b[1], b[3], b[4], b[5])
                box = (X / 2, X + 1.0, Y / 2, Y + 1.0, sep + (Z - sep) / 2, Z + 1.0)
                g = g.clip_box(box, invert=True)
            surf = _extract_surface(g) if g.n_cells else None
            if surf is None:
                view.missing.append(f"{qname} (empty after the cut)")
                continue
            for d in members[key]:
                view.surfaces[qname][d] = surf
    return view


def _array(surface, d: float) -> tuple[np.ndarray | None, str]:
    tag = dod_tag(d)
    if tag in surface.point_data:
        return np.asarray(surface.point_data[tag]), "point"
    if tag in surface.cell_data:
        return np.asarray(surface.cell_data[tag]), "cell"
    return None, ""


def _limits(arrays: list[np.ndarray], robust: bool) -> tuple[float, float]:
    vals = np.concatenate([a[np.isfinite(a)] for a in arrays if a is not None and a.size] or [np.zeros(1)])
    lo, hi = (np.percentile(vals, [1, 99]) if robust else (vals.min(), vals.max()))
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        pad = max(abs(hi), 1e-12) * 1e-3
        lo, hi = lo - pad, hi + pad
    return lo, hi


@dataclass
class Panel:
    surface: object | None
    dod: float
    quantity: str
    title: str
    clim: tuple[float, float] = (0.0, 1.0)


def _frame_text(view: CaseView, d: float) -> str:
    fr = view.frames[d]
    s = f"DOD {fr.dod:.2f} (asked {fr.requested:.2f}): t = {fr.time_s:.4g} s"
    if fr.voltage_V is not None:
        s += f", {fr.voltage_V:.3f} V, {fr.capacity_mAh_per_g:.1f} mAh/g"
    return s


def render_panels(rows: list[list[Panel]], path: str | Path, title: str = "", panel_px=(620, 560)) -> Path:
    """Draw a grid of panels into ``path`` (pyvista off-screen; matplotlib fallback)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _render_pyvista(rows, path, title, panel_px)
    except Exception as exc:
        warnings.warn(f"{path.name}: pyvista could not render ({exc.__class__.__name__}: {exc}); "
                      f"matplotlib fallback", RuntimeWarning, stacklevel=2)
        _render_matplotlib(rows, path, f"{title}\nmatplotlib fallback: pyvista failed "
                                       f"({exc.__class__.__name__}: {exc})")
    return path


def _render_pyvista(rows, path: Path, title: str, panel_px) -> None:
    import pyvista as pv

    pv.OFF_SCREEN = True
    nr, nc = len(rows), max(len(r) for r in rows)
    pl = pv.Plotter(off_screen=True, shape=(nr, nc), window_size=(panel_px[0] * nc, panel_px[1] * nr),
                    border=False)
    pl.set_background("white")
    k = 0
    for i, row in enumerate(rows):
        for j, p in enumerate(row):
            pl.subplot(i, j)
            q = QUANTITIES[p.quantity]
            vals, where = _array(p.surface, p.dod) if p.surface is not None else (None, "")
            if vals is None:
                pl.add_text(f"{p.title}\n\nno {p.quantity} data", font_size=9, color="black")
                continue
            k += 1
            surf = p.surface.copy(deep=False)
            pl.add_mesh(surf, scalars=dod_tag(p.dod), preference=where, cmap=q.cmap, clim=p.clim,
                        show_edges=False, ambient=0.3, diffuse=0.75, specular=0.0,
                        scalar_bar_args={"title": q.label + " " * k, "color": "black", "vertical": False,
                                         "width": 0.7, "height": 0.06, "position_x": 0.15, "position_y": 0.04,
                                         "title_font_size": 14, "label_font_size": 12, "fmt": "%.3g",
                                         "n_labels": 4})
            pl.add_text(p.title, font_size=9, color="black", position="upper_left")
            pl.add_axes(color="black", line_width=2)
            pl.view_isometric()
            pl.camera.zoom(0.95)
    if title:
        pl.subplot(0, 0)
        pl.add_text(title, font_size=9, color="black", position="upper_right")
    pl.screenshot(str(path))
    pl.close()


def _render_matplotlib(rows, path: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nr, nc = len(rows), max(len(r) for r in rows)
    fig = plt.figure(figsize=(4.5 * nc, 4.2 * nr))
    rng = np.random.default_rng(0)
    for i, row in enumerate(rows):
        for j, p in enumerate(row):
            ax = fig.add_subplot(nr, nc, i * nc + j + 1, projection="3d")
            vals, where = _array(p.surface, p.dod) if p.surface is not None else (None, "")
            ax.set_title(p.title, fontsize=7)
            if vals is None:
                continue
            xyz = p.surface.points if where == "point" else p.surface.cell_centers().points
            pick = rng.permutation(len(vals))[:20000]
            sc = ax.scatter(*xyz[pick].T, c=vals[pick], s=1, cmap=QUANTITIES[p.quantity].cmap,
                            vmin=p.clim[0], vmax=p.clim[1])
            fig.colorbar(sc, ax=ax, shrink=0.6, label=QUANTITIES[p.quantity].label)
    fig.suptitle(note, fontsize=8)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# -- figures ---------------------------------------------------------------------------------------------
def render_case(run_dir: str | Path, dods: list[float], quantities=DEFAULT_QUANTITIES, out_dir=None,
                cut: bool = True, view: CaseView | None = None, panel_px=(620, 560)) -> list[Path]:
    """One PNG per DOD (``fields_dod<D>.png`` in ``out_dir``, default the case folder): a panel per
    quantity, each with its own colour scale; ``panel_px``: (width, height) of a panel in pixels.
    Returns the files written."""
    quantities = list(quantities)
    view = view or case_view(run_dir, dods, quantities, cut)
    out_dir = Path(out_dir or run_dir)
    written = []
    for d in dods:
        panels = []
        for qn in quantities:
            s = view.surface(qn, d)
            arr = _array(s, d)[0] if s is not None else None
            clim = _limits([arr], QUANTITIES[qn].robust) if arr is not None else (0.0, 1.0)
            panels.append(Panel(s, d, qn, f"{view.label}\n{_frame_text(view, d)}", clim))
        written.append(render_panels([panels], out_dir / f"fields_{dod_tag(d)}.png", panel_px=panel_px))
    return written


def render_comparison(views: list[CaseView], dod: float, quantities, path: str | Path,
                      panel_px=(560, 520)) -> Path:
    """Cases side by side (columns) at one DOD, one row per quantity with one colour scale per row;
    ``panel_px``: (width, height) of a panel in pixels."""
    rows = []
    for qn in quantities:
        arrays = [(_array(v.surface(qn, dod), dod)[0] if v.surface(qn, dod) is not None else None) for v in views]
        clim = _limits(arrays, QUANTITIES[qn].robust)
        rows.append([Panel(v.surface(qn, dod), dod, qn, f"{v.label}\n{_frame_text(v, dod)}", clim) for v in views])
    return render_panels(rows, path, panel_px=panel_px)


_CASE_RE = re.compile(r"^ncm([0-9p.]+)_seed(\d+)$")
_RATE_RE = re.compile(r"^c([0-9.eE+-]+)C$")


def study_cases(root: str | Path, marker: str = "fields_ncm*.xdmf") -> list[dict]:
    """Case folders of a discharge study that hold a file matching ``marker`` (default: fields):
    dicts with ncm_wt, c_rate, seed, run_dir."""
    out = []
    for f in sorted(Path(root).glob(f"ncm*_seed*/c*C/{marker}")):
        rd = f.parent
        m1, m2 = _CASE_RE.match(rd.parent.name), _RATE_RE.match(rd.name)
        if not (m1 and m2):
            continue
        c = {"ncm_wt": float(m1.group(1).replace("p", ".")), "seed": int(m1.group(2)),
             "c_rate": float(m2.group(1)), "run_dir": rd}
        if c not in out:
            out.append(c)
    return out


def render_study(root: str | Path, dods: list[float], quantities=DEFAULT_QUANTITIES, c_rates=None, seed=None,
                 cut: bool = True, panel_px=None) -> list[Path]:
    """Pictures of a discharge study: every case with fields (``render_case`` into its folder) and,
    per C-rate and seed with several compositions, ``ROOT/fields_c<R>C_seed<S>_dod<D>.png``
    (compositions side by side). ``seed`` defaults to the smallest seed with fields."""
    root = Path(root)
    quantities = list(quantities)
    cases = study_cases(root)
    with_fields = {c["run_dir"] for c in cases}
    cases += [c for c in study_cases(root, "fields_dod*.png") if c["run_dir"] not in with_fields]
    if c_rates is not None:
        cases = [c for c in cases if any(abs(c["c_rate"] - r) < 1e-12 for r in c_rates)]
    if cases:
        s0 = seed if seed is not None else min(c["seed"] for c in cases)
        cases = [c for c in cases if c["seed"] == s0]
    if not cases:
        raise InputError("render", f"case folders with fields under {root} (ncm<W>_seed<S>/c<R>C/fields_ncm.xdmf)",
                         "none found")
    written = []
    for rate in sorted({c["c_rate"] for c in cases}):
        group = sorted([c for c in cases if c["c_rate"] == rate], key=lambda c: c["ncm_wt"])
        if any(c["run_dir"] not in with_fields for c in group):
            # some fields are gone (they stay out of git): the cases' own pictures, one row each
            for d in dods:
                pngs = [c["run_dir"] / f"fields_{dod_tag(d)}.png" for c in group]
                pngs = [p for p in pngs if p.is_file()]
                if len(pngs) >= 2:
                    name = f"fields_c{rate:g}C_seed{group[0]['seed']}_{dod_tag(d)}.png"
                    written.append(stitch_pictures(pngs, root / name))
            continue
        views = []
        for c in group:
            try:
                v = case_view(c["run_dir"], dods, quantities, cut,
                              label=f"NCM {c['ncm_wt']:g} wt%, {c['c_rate']:g}C, seed {c['seed']}")
            except (InputError, FileFormatError) as exc:
                warnings.warn(f"{c['run_dir']}: not rendered ({exc})", RuntimeWarning, stacklevel=2)
                continue
            written += render_case(c["run_dir"], dods, quantities, view=v, **_px(panel_px))
            views.append(v)
        if len(views) >= 2:
            for d in dods:
                name = f"fields_c{rate:g}C_seed{group[0]['seed']}_{dod_tag(d)}.png"
                written.append(render_comparison(views, d, quantities, root / name, **_px(panel_px)))
    return written


def stitch_pictures(paths: list[Path], path: str | Path) -> Path:
    """The PNGs ``paths`` one above the other into ``path``: each case's own picture (a row of
    quantities) as one row, so each panel keeps its own colour scale; left edges aligned, white to
    the right of the narrower ones."""
    import matplotlib.image as mpimg

    images = []
    for p in paths:
        a = mpimg.imread(p)
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        if a.dtype != np.float32 and a.dtype != np.float64:
            a = a.astype(np.float64) / 255.0
        images.append(a[:, :, :3])
    w = max(a.shape[1] for a in images)
    rows = [np.hstack([a, np.ones((a.shape[0], w - a.shape[1], 3), a.dtype)]) for a in images]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mpimg.imsave(path, np.clip(np.vstack(rows), 0.0, 1.0))
    return path


def _px(panel_px) -> dict:
    return {} if panel_px is None else {"panel_px": tuple(panel_px)}


def render_dirs(dirs: list[str | Path], dods: list[float], quantities=DEFAULT_QUANTITIES, out_dir=None,
                c_rates=None, seed=None, cut: bool = True, panel_px=None) -> list[Path]:
    """``fem-twin render``: a study folder (see :func:`render_study`) or one or more case folders
    (each rendered into ``out_dir`` or its own folder; several side by side into
    ``out_dir``/fields_compare_dod<D>.png, default the first folder's parent)."""
    dirs = [Path(d) for d in dirs]
    for d in dirs:
        if not d.is_dir():
            raise InputError("render", "existing directories", str(d))
    if len(dirs) == 1 and not series_files(dirs[0], "ncm") and not series_files(dirs[0], "electrolyte"):
        return render_study(dirs[0], dods, quantities, c_rates, seed, cut, panel_px)
    written, views = [], []
    for d in dirs:
        v = case_view(d, dods, list(quantities), cut)
        od = (Path(out_dir) / d.name) if (out_dir and len(dirs) > 1) else (out_dir or d)
        written += render_case(d, dods, quantities, od, view=v, **_px(panel_px))
        views.append(v)
    if len(views) >= 2:
        od = Path(out_dir) if out_dir else dirs[0].resolve().parent
        for dd in dods:
            written.append(render_comparison(views, dd, list(quantities), od / f"fields_compare_{dod_tag(dd)}.png",
                                             **_px(panel_px)))
    return written
