"""Label numbers of the phases, interfaces and boundaries: the one place they are defined.

Voxel images (``structure.npz``) store one ``uint8`` label per voxel:

====== ===== =====================================================
label  name  material
====== ===== =====================================================
0      pore  void (inner pores of NCM secondary particles and outer pores)
1      ncm   LiNi0.7Co0.15Mn0.15O2 active material (primary particles)
2      lpscl Li6PS5Cl solid electrolyte
3      nbr   nitrile butadiene rubber binder
====== ===== =====================================================

Meshes use the same numbers as cell tags (plus :data:`SEPARATOR` for the dense
electrolyte layer between the lithium metal and the composite).
"""

from __future__ import annotations

PORE = 0
NCM = 1
LPSCL = 2
NBR = 3

#: phase name -> label, in label order
PHASES: dict[str, int] = {"pore": PORE, "ncm": NCM, "lpscl": LPSCL, "nbr": NBR}
#: label -> phase name
NAMES: dict[int, str] = {v: k for k, v in PHASES.items()}

#: cell tag of the dense LPSCl separator layer added below the composite by the mesher
SEPARATOR = 4


def label_of(name: str) -> int:
    """Label number of a phase name (``ncm``, ``lpscl``, ``nbr``, ``pore``)."""
    try:
        return PHASES[name.lower()]
    except KeyError:
        raise KeyError(f"unknown phase {name!r}; expected one of {', '.join(PHASES)}") from None


# -- mesh facet tags ---------------------------------------------------------------------------
# Interfaces between two different phases: 100 + 10 * lower label + higher label. The separator
# layer is LPSCl: its facets against composite NCM are NCM|LPSCl (reactive) facets, against pore
# or NBR they carry the LPSCl tags. Facets between the separator and composite LPSCl are internal.
def interface_tag(a: int, b: int) -> int:
    """Facet tag of the interface between phase labels ``a`` and ``b`` (order irrelevant)."""
    a = LPSCL if a == SEPARATOR else a
    b = LPSCL if b == SEPARATOR else b
    if a == b:
        raise ValueError("no interface between a phase and itself")
    lo, hi = min(a, b), max(a, b)
    return 100 + 10 * lo + hi


PORE_NCM = interface_tag(PORE, NCM)  # 101
PORE_LPSCL = interface_tag(PORE, LPSCL)  # 102
PORE_NBR = interface_tag(PORE, NBR)  # 103
NCM_LPSCL = interface_tag(NCM, LPSCL)  # 112: the electrochemically active interface
NCM_NBR = interface_tag(NCM, NBR)  # 113
LPSCL_NBR = interface_tag(LPSCL, NBR)  # 123
INTERFACE_TAGS: dict[str, int] = {
    "ncm|lpscl": NCM_LPSCL, "ncm|nbr": NCM_NBR, "pore|ncm": PORE_NCM,
    "lpscl|nbr": LPSCL_NBR, "pore|lpscl": PORE_LPSCL, "pore|nbr": PORE_NBR,
}

# Outer boundary planes of the mesh (z = 0 is the Li | separator plane when a separator is
# meshed, otherwise the separator | composite plane; z = top is the current collector).
BOTTOM = 1
TOP = 2
XMIN, XMAX, YMIN, YMAX = 3, 4, 5, 6
BOUNDARY_TAGS: dict[str, int] = {"bottom": BOTTOM, "top": TOP, "xmin": XMIN, "xmax": XMAX,
                                 "ymin": YMIN, "ymax": YMAX}
