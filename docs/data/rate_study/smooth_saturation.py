"""Prototype: the NCM|LPSCl kinetics with the lithiation smoothed at c_max instead of clipped (issue 19;
session 38). Not in fem_twin yet (docs/rate_study.md, "The overshoot option, and what then ends the runs").

    .venv/bin/python docs/data/rate_study/smooth_saturation.py DELTA <fem-twin arguments>
    e.g. ... smooth_saturation.py 1e-3 discharge S --settings RUN/settings.json -o RUN --restart \\
             --lithiation-overshoot 0.05

Why. The library's nodal kinetics (fem_twin.fem.kinetics) clip the lithiation to (1e-10, 1 - 1e-10):
i0 = k c_max sqrt(c_e0) sqrt(x (1 - x) x_e) has an infinite slope as x -> 1 and none past it, and
U(x) a slope of -78.6 V at 1 and none past it. A node that crosses 1 inside a Newton solve (the
smooth mesh lets diffusion push one there) switches its linearisation, and Newton stalls: the runs
that end by "surface saturation" above 3 V. Here x is replaced, in i0 and U only, by

    x~ = 1 - r,  r = delta ln(1 + exp((1 - x) / delta))   (dx~/dx = 1 / (1 + exp(-(1 - x) / delta)))

smooth for every x, x~ < 1, x~ = x to delta ln(1 + exp(-5)) = 6.7e-6 for x < 1 - 5 delta (delta = 1e-3).
The diagnostics assembled by UFL (the interface current of the conservation check) keep the clipped
kinetics; only the nodal residual and Jacobian (the solve) change. This process only; nothing in
fem_twin is changed.
"""

from __future__ import annotations

import sys

import numpy as np


def smoothed_butler_volmer(delta: float):
    """A replacement for ``fem_twin.fem.kinetics._butler_volmer`` with x~ of the module docstring
    (``delta`` > 0, a lithiation width)."""
    from fem_twin.fem import kinetics as K

    if not delta > 0:
        raise ValueError(f"delta: expected a lithiation width > 0, got {delta}")

    def bv(p, theta_s, psi_s, phi_e, theta_e, V):
        f = 1.0 / p.thermal_voltage
        x = np.asarray(theta_s, float)
        z = (1.0 - x) / delta
        r = delta * np.logaddexp(0.0, z)  # 1 - x~, > 0
        dxt = 1.0 / (1.0 + np.exp(-z))  # dx~/dx in (0, 1)
        xt = np.maximum(1.0 - r, K.CLIP)
        ins = (x > K.CLIP) * dxt
        if theta_e is None:
            xe, ine = np.ones_like(xt), np.zeros_like(xt)
        else:
            xe = np.clip(theta_e, K.CLIP, K.CE_MAX)
            ine = ((theta_e > K.CLIP) & (theta_e < K.CE_MAX)).astype(float)
        k = K._rate_constant(p)
        s = xt * r * xe
        i0 = k * np.sqrt(s)
        eta = psi_s + V - phi_e - p.ocp.numpy(xt)
        ea, ec = np.exp(p.alpha_a * f * eta), np.exp(-p.alpha_c * f * eta)
        e = ea - ec
        dj_deta = i0 * f * (p.alpha_a * ea + p.alpha_c * ec)
        di0_dxt = 0.5 * k * (r - xt) * xe / np.sqrt(s)
        di0_dxe = 0.5 * k * xt * r / np.sqrt(s)
        dj_dxs = ins * (di0_dxt * e - dj_deta * p.ocp.derivative_numpy(xt))
        return K.Kinetics(i0 * e, dj_dxs, dj_deta, -dj_deta, ine * di0_dxe * e, eta)

    return bv


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2:
        raise SystemExit("usage: smooth_saturation.py DELTA <fem-twin arguments>")
    delta = float(argv[0])
    from fem_twin.cli import main as cli
    from fem_twin.fem import kinetics

    kinetics._butler_volmer = smoothed_butler_volmer(delta)
    return cli(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
