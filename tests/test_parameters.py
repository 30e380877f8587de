"""Parameter set, OCP and protocol parsing (no finite elements)."""

import numpy as np
import pytest

from fem_twin.errors import InputError
from fem_twin.parameters.cell import ParameterSet
from fem_twin.parameters.ocp import OpenCircuitPotential
from fem_twin.protocol import Protocol


def test_defaults_are_the_seed_values():
    p = ParameterSet()
    assert p.sigma_ncm_S_m == pytest.approx(0.085)
    assert p.d_ncm_m2_s == 3.0e-15 and p.d_lpscl_m2_s == 1.2e-13
    assert p.k_ncm == 1.0e-7 and p.c_ncm_max_mol_m3 == 47054 and p.c_lpscl_mol_m3 == 46276
    assert p.t_plus == 0.99 and p.temperature_K == 303.15
    # sigma_LPSCl = (-4.45e-3 eps + 4.64e-3) S/cm
    assert p.sigma_lpscl(0.4) == pytest.approx((-4.45e-3 * 0.4 + 4.64e-3) * 100)
    # 1C: 1 cm3 of NCM = 4.44 g -> 4.44 g * 180 mAh/g / 1 h = 0.7992 A
    assert p.one_c_current_A(1e-6) == pytest.approx(4.44 * 0.180)


def test_toml_overrides_and_rejections(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('d_ncm_m2_s = 5e-15\nli_contact = "ideal"\n[ocp]\nx = [0.2, 0.6, 1.0]\nu_V = [4.4, 3.8, 3.4]\n')
    p = ParameterSet.from_toml(f)
    assert p.d_ncm_m2_s == 5e-15 and p.li_contact == "ideal" and p.ocp.kind == "table"
    assert p.ocp.numpy(0.4) == pytest.approx(4.1)
    f.write_text("d_ncm = 5e-15\n")
    with pytest.raises(InputError, match="d_ncm"):
        ParameterSet.from_toml(f)
    f.write_text("d_ncm_m2_s = 5e-5\n")  # cm2/s-sized value: out of range
    with pytest.raises(InputError, match="d_ncm_m2_s"):
        ParameterSet.from_toml(f)
    with pytest.raises(InputError, match="t_plus"):
        ParameterSet().with_overrides({"t_plus": 1.5})


@pytest.mark.parametrize("kind", ["chen2020", "chen2020_xu2019"])
def test_ocp_numpy_and_ufl_agree(kind):
    ocp = OpenCircuitPotential(kind)
    x = np.array([0.27, 0.5, 0.9, 0.99])
    u = ocp.numpy(x)
    assert np.all(np.diff(u) < 0) and 4.2 < u[0] < 4.3 and 3.5 < u[2] < 3.6
    assert ocp.lithiation_at(float(u[1])) == pytest.approx(0.5, abs=1e-9)
    import ufl  # the UFL expression evaluates to the same numbers on a constant

    from fem_twin._dolfinx import MPI, dolfinx

    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 1)
    for xv, uv in zip(x, u):
        c = dolfinx.fem.Constant(msh, float(xv))
        val = dolfinx.fem.assemble_scalar(dolfinx.fem.form(ocp.ufl(c) * ufl.dx(domain=msh)))
        assert val == pytest.approx(uv, rel=1e-12)


@pytest.mark.parametrize("ocp", [OpenCircuitPotential("chen2020"), OpenCircuitPotential("chen2020_xu2019"),
                                 OpenCircuitPotential("table", (0.2, 0.5, 0.9), (4.3, 3.8, 3.4))])
def test_ocp_derivative_is_the_slope(ocp):
    """dU/dx (numpy, used by the nodal interface Jacobian) against central differences, away
    from the table's kinks; beyond x = 1 the bounded Xu 2019 term adds nothing."""
    x = np.array([0.05, 0.27, 0.31, 0.4, 0.7, 0.95, 0.985, 0.9999, 1.2])
    h = 1e-7
    fd = (ocp.numpy(x + h) - ocp.numpy(x - h)) / (2 * h)
    du = ocp.derivative_numpy(x)
    assert np.allclose(du, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())
    if ocp.kind == "table":
        assert du[0] == pytest.approx(-5 / 3) and du[-1] == pytest.approx(-1.0)


def test_ocp_end_of_discharge_drop():
    """The default adds Xu 2019's drop: no change below x = 0.9, 3.0 V reached near x = 0.996
    (Chen 2020 alone never goes below 3.49 V)."""
    chen, default = OpenCircuitPotential("chen2020"), OpenCircuitPotential()
    assert default.kind == "chen2020_xu2019"
    x = np.linspace(0.2, 0.9, 50)
    assert np.max(np.abs(default.numpy(x) - chen.numpy(x))) < 2e-5
    assert chen.numpy(1.0) > 3.48
    assert default.numpy(1.0) == pytest.approx(float(chen.numpy(1.0)) - 5.623e-5 * np.exp(9.445), abs=1e-9)
    assert default.lithiation_at(3.0) == pytest.approx(0.9966, abs=5e-4)
    assert np.isnan(chen.lithiation_at(3.0))


def test_protocol_parse():
    p = Protocol.parse("discharge 1C to 3.0 V; rest 10 min; charge 0.5C to 4.3 V")
    assert [s.kind for s in p.steps] == ["discharge", "rest", "charge"]
    assert p.steps[0].c_rate == 1 and p.steps[0].until_V == 3.0
    assert p.steps[1].duration_s == 600 and p.steps[2].c_rate == 0.5 and p.steps[2].sign == -1
    assert Protocol.parse("discharge C/10 to 3000 mV").steps[0].c_rate == pytest.approx(0.1)
    for bad in ("discharge 0C to 3 V", "discharge 1C", "rest", "jump 1C to 3 V", "discharge 1X to 3 V"):
        with pytest.raises(InputError):
            Protocol.parse(bad)
