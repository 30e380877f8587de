"""The coupled discharge problem of the digital-twin cell (forms, Newton solve, diagnostics).

Cell: Li metal | LPSCl separator | NCM-LPSCl-NBR composite | Al collector (z = 0 is the Li plane).
Unknowns, each a P1 field on its phase submesh, plus one global scalar:

===========  =========  ==================================================================
field        submesh    meaning
===========  =========  ==================================================================
theta_s      NCM        lithiation c_s / c_s,max
psi_s        NCM        phi_s - V (zero on the collector contact facets)
phi_e        LPSCl      electrolyte potential, V vs the Li metal (phi_Li = 0)
theta_e      LPSCl      c_e / c_e,0 (absent when c_e is frozen, t+ = 1)
V            global     collector potential = cell voltage, fixed by the total current
===========  =========  ==================================================================

Equations (SI; the mesh is in micrometres and the forms carry the conversion factors):

- NCM: dc_s/dt = div(D_s grad c_s); div(sigma_s grad phi_s) = 0.
- LPSCl: div(i_e) = 0, i_e = -kappa grad phi_e + kappa (2RT/F)(1 - t+) grad ln c_e;
  dc_e/dt = div(D_e grad c_e).
- NCM | LPSCl interface Gamma (normal n from NCM into LPSCl)::

      j = k sqrt(c_s c_e (c_max - c_s)) [exp(alpha_a F eta / RT) - exp(-alpha_c F eta / RT)]
      eta = phi_s - phi_e - U(c_s / c_max)

  With alpha_a = alpha_c = 1/2 this is the seed's j = 2k sqrt(...) sinh(F eta / 2RT).
  **Sign convention**: j > 0 is anodic (charge): current density j (A/m2) leaves the NCM
  (-sigma_s grad phi_s . n = j) and enters the electrolyte; the lithium flux into NCM is -j/F
  (D_s grad c_s . n = -j/F), so on discharge j < 0 and -j/F > 0 mol/(m2 s) enter NCM. The
  electrolyte gains the net Li+ source (1 - t+) j / F (migration carries the rest).
- Li | LPSCl plane (z = 0): j_Li = i0_Li [exp(alpha_a F eta_Li/RT) - exp(-alpha_c F eta_Li/RT)],
  eta_Li = phi_Li - phi_e, phi_Li = 0; j_Li > 0 (stripping) enters the electrolyte; or the ideal
  contact phi_e = 0.
- Collector: phi_s = V on the NCM contact facets, V unknown, with the galvanostatic condition
  integral_Gamma j dS = -I (I > 0 on discharge). Pores, NBR and the side faces carry no flux.

Every equation is scaled to picoamperes (A/m2 * um2): the potential equations are currents,
the mass balances are multiplied by F c_ref. Backward Euler in time; ``transport = 0`` switches
the concentrations off (c = c_old) to solve the potentials alone (the consistent initial state).
The concentration mass terms and every facet integral use the vertex (nodal) rule: a lumped
mass matrix and the kinetics evaluated at each node's own lithiation, so a node whose surface
saturates stops reacting and the current moves to the other contacts (the midpoint rule kept
feeding saturated vertices past c_max and ended 1C runs 60-90 mAh/g early; it lives on only in
the tests' reference, ``tests/reference_assembly.py``). With that rule the interface terms are
sums over interface vertices, assembled node by node (:mod:`fem_twin.fem.discharge_assembly`).
"""

from __future__ import annotations

import numpy as np
import ufl
import ufl.algorithms

from .._dolfinx import MPI, PETSc, dolfinx
from ..parameters.cell import FARADAY, ParameterSet
from .control import CurrentControl, VoltageControl, as_control
from .discharge_assembly import JacobianAssembly
from .discharge_solvers import (LINESEARCH_RTOL, LINESEARCH_RTOL_KEY, BorderedSystem, KrylovRoles,
                                LinearSolverSpec, augmented_vector, choose_solver,
                                clear_options, global_sum, outer_ksp_options, set_options)
from .domains import DS_INTERFACE, DS_LI, DX_ELY, DX_NCM, Domains, top_dofs
from .interface_nodal import NodalInterface, interface_vertices
from .interface_weights import interface_weight_ufl
from .kinetics import CE_MAX, CLIP, interface_current_ufl, li_current_ufl
from .settings import SNES_MAX_ITS
from .transport_matching import conductance_factor_field, is_plain

PA = 1e12  # picoamperes per ampere
CONCENTRATION_FAILURE = "concentration outside (0, c_max)"  # kinetics and ln() see concentrations clipped to [CLIP, 1 - CLIP]


def _clip(x, lo=CLIP, hi=1.0 - CLIP):
    return ufl.min_value(ufl.max_value(x, lo), hi)


def _add(a, b):
    """a + b for forms where either may be None."""
    return b if a is None else a if b is None else a + b


def _nonzero_or_none(compile_form, form):
    """The compiled form, or None when ``form`` is None or its derivative expands to nothing."""
    if form is None or ufl.algorithms.expand_derivatives(form).empty():
        return None
    return compile_form(form)


class DischargeProblem(JacobianAssembly):
    """Fields, forms and the SNES of one cell; :meth:`solve` advances by ``dt``.

    ``eps_ncm`` is the composite's NCM volume fraction (for the LPSCl conductivity formula),
    ``i_ref_A`` a current scale (the 1C current) for the Newton tolerances;
    ``conductance_factors`` ({"ncm": f, "lpscl": f}, f a number or the diagonal (fx, fy, fz);
    :mod:`fem_twin.fem.transport_matching`) turn sigma_s in NCM, and kappa, the ln c_e term and D_e
    in the composite's LPSCl (not in the separator), into tensors sigma diag(f); None or all 1:
    the plain conductivities. ``sliver_angle_deg`` > 0: NCM and LPSCl cells with a dihedral angle
    below it carry (almost) no conduction in those terms (``transport_matching.SLIVER_ANGLE_DEG``,
    part of the fv-matched transport).
    """

    def __init__(self, domains: Domains, params: ParameterSet, eps_ncm: float, i_ref_A: float,
                 solver: LinearSolverSpec | None = None, prefix: str = "discharge_",
                 snes_options: dict | None = None, conductance_factors: dict | None = None,
                 sliver_angle_deg: float = 0.0):
        self.domains = d = domains
        self.params = p = params
        self.comm = d.parent.comm
        self.solver_spec = solver or LinearSolverSpec()
        self.prefix = prefix
        self.frozen_ce = p.frozen_ce
        self.kappa = p.sigma_lpscl(eps_ncm)
        self.conductance_factors = dict(conductance_factors or {})
        self.sliver_angle_deg = float(sliver_angle_deg)
        if (p.interface_area == "smoothed-normal") != (d.interface_normal is not None):
            raise ValueError(f"interface_area = {p.interface_area!r} needs domains "
                             f"{'with' if p.interface_area != 'mesh' else 'without'} interface normals "
                             "(fem_twin.fem.interface_weights.attach_smoothed_normals)")
        msh = d.parent
        # one space object per field: a DirichletBC applies to every block whose space *is* its
        # space, so fields sharing a space object would share boundary conditions
        P1 = lambda m: dolfinx.fem.functionspace(m, ("Lagrange", 1))  # noqa: E731
        Vcs, Vs, Ve, Vce = P1(d.ncm.mesh), P1(d.ncm.mesh), P1(d.electrolyte.mesh), P1(d.electrolyte.mesh)
        self.Vcs, self.Vs, self.Ve, self.Vce = Vcs, Vs, Ve, Vce
        self.theta_s = dolfinx.fem.Function(Vcs, name="lithiation")
        self.psi_s = dolfinx.fem.Function(Vs, name="psi_s")
        self.phi_e = dolfinx.fem.Function(Ve, name="phi_e")
        self.theta_s_old = dolfinx.fem.Function(Vcs)
        self.fields = [self.theta_s, self.psi_s, self.phi_e]
        if not self.frozen_ce:
            self.theta_e = dolfinx.fem.Function(Vce, name="theta_e")
            self.theta_e_old = dolfinx.fem.Function(Vce)
            self.fields.append(self.theta_e)
        else:
            self.theta_e = dolfinx.fem.Constant(msh, 1.0)
        const = lambda v: dolfinx.fem.Constant(msh, PETSc.ScalarType(v))  # noqa: E731
        self.V = const(0.0)  # collector potential (V)
        self.I = const(0.0)  # applied current (pA), > 0 on discharge (galvanostatic solves)
        self._voltage_control = None  # a VoltageControl during potentiostatic solves (CV holds)
        #: the voltage row's scale (pA per V): a 1 V error of V counts like a 1C current
        self.v_scale_pA = i_ref_A * PA
        self.dt = const(1.0)  # time step (s)
        self.transport = const(1.0)  # 0: concentrations frozen (potentials-only solve)
        self.timings = {"residual_s": 0.0, "jacobian_s": 0.0, "residuals": 0, "jacobians": 0}
        self.predictor = True  # extrapolate the last two accepted states as Newton's initial guess
        self._history = None
        J_c, lin_c = self._build_forms(p)
        self.set_initial_state()  # (finite values for the first, pattern-fixing assembly)
        self._build_matrices(J_c, lin_c)
        self._build_solver(i_ref_A * PA, snes_options or {})
        self.set_initial_state()

    # -- forms ---------------------------------------------------------------------------------
    def _build_forms(self, p: ParameterSet) -> tuple[list, list]:
        """The UFL model (``F``, ``g``), the compiled forms the assembler uses and the Dirichlet
        conditions. Returns the forms needed only to build the matrices: the whole Jacobian
        (compiled) and the linear bulk blocks (field, scale(dt, transport), compiled form)."""
        d = self.domains
        dx, dS, ds = d.measures()
        th_s, psi, phi_e, th_e = self.theta_s, self.psi_s, self.phi_e, self.theta_e
        q_s, v_s = ufl.TestFunction(self.Vcs), ufl.TestFunction(self.Vs)
        w_e = ufl.TestFunction(self.Ve)
        dt, tr = self.dt, self.transport
        cmax, ce0 = p.c_ncm_max_mol_m3, p.c_lpscl_mol_m3
        # interface kinetics (fem_twin.fem.kinetics), '+' = NCM side, '-' = electrolyte side
        # (entities ordered so)
        j, eta = interface_current_ufl(p, th_s("+"), psi("+"), phi_e("-"),
                                       None if self.frozen_ce else th_e("-"), self.V)  # A/m2, V
        self.j_expr, self.eta_expr = j, eta
        # interface-area weight (1, or |n_s . n| with smoothed normals: the kinetics act on the
        # smooth surface's area; interface_weights.py) in every interface term, as in the nodal ones
        wgt = interface_weight_ufl(d)
        jw = j if wgt is None else j * wgt
        j_li = li_current_ufl(p, phi_e) if p.li_contact == "butler-volmer" else None
        self.j_li_expr = j_li
        # one fixed quadrature rule for every facet integral: the residuals and the current
        # functional g must integrate j identically, or conservation holds only to the
        # quadrature error (1e-6 near saturation with the estimated degrees)
        #
        # The facet integrals and the concentration mass terms use the vertex rule (nodal
        # quadrature: a lumped mass matrix, the kinetics evaluated at each node's own
        # lithiation). With the Kuhn tetrahedra's M-matrix stiffness this keeps the discrete
        # lithiation inside (0, 1) where the exact one is: a node whose surface saturates stops
        # reacting (sqrt(c_max - c_s) and U(x) act per node), while with the midpoint rule a facet
        # keeps pushing lithium into its saturated vertex and the run ends early with a node past
        # c_max (tests/test_discharge.py::test_lumped_scheme_discharges_to_the_cutoff). Both rules
        # are second-order accurate (tests: MMS rates, one-particle reference).
        qd = {"quadrature_rule": "vertex", "quadrature_degree": 1}
        dG, dNCM, dELY = dS(DS_INTERFACE, metadata=qd), dx(DX_NCM), dx(DX_ELY)
        dLI = ds(DS_LI, metadata=qd)
        mNCM, mELY = dx(DX_NCM, metadata=qd), dx(DX_ELY, metadata=qd)
        # The forms are written as (linear bulk part) + (the rest). The linear bulk parts are the
        # mass and stiffness terms with constant coefficients: their Jacobian blocks are cached
        # matrices (``self.lin_mats``: field, scale as a function of (dt, transport), matrix) and
        # only the rest (interface kinetics, the ln c_e flux) is assembled at every Newton step.
        tri = lambda u: ufl.TrialFunction(u.function_space)  # noqa: E731
        gg = lambda a, b: ufl.inner(ufl.grad(a), ufl.grad(b))  # noqa: E731
        # conductance matching (transport_matching.py): a DG0 factor on the transport of NCM's
        # electrons and of the composite's LPSCl; the plain forms when every factor is 1
        if not is_plain(self.conductance_factors) or self.sliver_angle_deg > 0:
            if d.cell_labels is None:
                raise ValueError("conductance factors need domains with cell_labels (build_domains)")
            self.conductance_factor = conductance_factor_field(d.parent, d.cell_labels, self.conductance_factors,
                                                               self.sliver_angle_deg)
            K = ufl.diag(self.conductance_factor)
            gg_f = lambda a, b: ufl.inner(K * ufl.grad(a), ufl.grad(b))  # noqa: E731
        else:
            self.conductance_factor, K = None, None
            gg_f = gg
        mass_cs, stiff_cs = FARADAY * cmax * 1e-6, FARADAY * cmax * p.d_ncm_m2_s * 1e6
        sig_s, kap = p.sigma_ncm_S_m * 1e6, self.kappa * 1e6
        lin = [  # (field, scale(dt, transport), bilinear form of the linear bulk term)
            (0, lambda dt, tr: mass_cs / dt, tri(th_s) * q_s * mNCM),
            (0, lambda dt, tr: stiff_cs * tr, gg(tri(th_s), q_s) * dNCM),
            (1, lambda dt, tr: sig_s, gg_f(tri(psi), v_s) * dNCM),
            (2, lambda dt, tr: kap, gg_f(tri(phi_e), w_e) * dELY),
        ]
        # NCM mass balance (pA): F c_max [ (x - x_old)/dt q + D_s grad x . grad q ] + j q
        F_cs_lin = (mass_cs * (th_s - self.theta_s_old) / dt * q_s * mNCM
                    + tr * stiff_cs * gg(th_s, q_s) * dNCM)
        # non-linear terms: on the interface (F_if) and in the bulk / on the Li plane (F_bulk)
        F_if = [tr * jw * q_s("+") * dG, jw * v_s("+") * dG, -jw * w_e("-") * dG]
        F_bulk = [None, None, None]
        # NCM charge balance (pA)
        F_ps_lin = sig_s * gg_f(psi, v_s) * dNCM
        # electrolyte charge balance (pA)
        F_pe_lin = kap * gg_f(phi_e, w_e) * dELY
        if not self.frozen_ce:
            flux_ln = (ufl.inner(ufl.grad(th_e) / _clip(th_e, hi=CE_MAX), ufl.grad(w_e)) if K is None else
                       ufl.inner(K * ufl.grad(th_e) / _clip(th_e, hi=CE_MAX), ufl.grad(w_e)))
            F_bulk[2] = -kap * 2.0 * p.thermal_voltage * (1.0 - p.t_plus) * flux_ln * dELY
        if j_li is not None:
            F_bulk[2] = _add(F_bulk[2], -j_li * w_e * dLI)
        F_lin = [F_cs_lin, F_ps_lin, F_pe_lin]
        if not self.frozen_ce:
            q_e = ufl.TestFunction(self.Vce)
            mass_ce, stiff_ce = FARADAY * ce0 * 1e-6, FARADAY * ce0 * p.d_lpscl_m2_s * 1e6
            lin += [(3, lambda dt, tr: mass_ce / dt, tri(th_e) * q_e * mELY),
                    (3, lambda dt, tr: stiff_ce * tr, gg_f(tri(th_e), q_e) * dELY)]
            F_lin.append(mass_ce * (th_e - self.theta_e_old) / dt * q_e * mELY
                         + tr * stiff_ce * gg_f(th_e, q_e) * dELY)
            F_if.append(-tr * (1.0 - p.t_plus) * jw * q_e("-") * dG)
            F_bulk.append(-tr * (1.0 - p.t_plus) * j_li * q_e * dLI if j_li is not None else None)
        # the model (UFL, not compiled): the whole residual forms F (pA) and the galvanostatic
        # condition's current g = int j dS (pA; the constraint row is g + I). The assembler
        # below splits them; the tests' UFL reference assembles them whole.
        self.F = [a + _add(b, c) for a, b, c in zip(F_lin, F_if, F_bulk)]
        self.g = jw * dG
        em = d.entity_maps
        cf = lambda form: dolfinx.fem.form(form, entity_maps=em)  # noqa: E731
        # residual: the forms without the interface terms (added node by node)
        self.F_c = cf([_add(a, b) for a, b in zip(F_lin, F_bulk)])
        # the whole Jacobian: compiled for the pattern-fixing first assembly only (its
        # integration-entity arrays cost ~1/4 of the forms' memory)
        J_c = cf([[ufl.derivative(Fi, u, ufl.TrialFunction(u.function_space)) for u in self.fields]
                  for Fi in self.F])
        lin_c = [(k, scale, cf(a)) for k, scale, a in lin]
        # the part assembled at every Newton step: derivatives of the bulk non-linear terms (None
        # where a block has none; the interface is added node by node)
        self.Jnl_c = [[None if Fi is None else
                       _nonzero_or_none(cf, ufl.derivative(Fi, u, ufl.TrialFunction(u.function_space)))
                       for u in self.fields] for Fi in F_bulk]
        # diagnostics
        self.g_c = cf(self.g)  # the interface current from UFL (an independent check of the nodal sum)
        self.li_current_c = cf(j_li * dLI) if j_li is not None else None
        self.lith_c = cf(th_s * dNCM)
        # lithiation above 1 (a smooth mesh's overshoot; SteppingOptions.lithiation_overshoot), by the
        # vertex rule: sum over NCM nodes of (lumped volume) * max(x - 1, 0), um3
        self.excess_c = cf(ufl.max_value(th_s - 1.0, 0.0) * mNCM)
        # Dirichlet conditions: psi_s = 0 on the collector; phi_e = 0 at z = 0 (ideal Li contact)
        tol = 1e-6 * max(d.z_top_um - d.z_bottom_um, 1.0)
        zero = PETSc.ScalarType(0.0)
        self.bcs = [dolfinx.fem.dirichletbc(zero, top_dofs(self.Vs, d.z_top_um, tol), self.Vs)]
        self._bc_fields = [1]
        if j_li is None:
            self.bcs.append(dolfinx.fem.dirichletbc(zero, top_dofs(self.Ve, d.z_bottom_um, tol), self.Ve))
            self._bc_fields.append(2)
        bc_dofs = {k: bc.dof_indices()[0] for bc, k in zip(self.bcs, self._bc_fields)}
        self.iface = NodalInterface(interface_vertices(d, self.Vcs, self.Ve), p, len(self.fields), bc_dofs)
        # (Vcs/Vs and Ve/Vce are built alike, so they share dof numbers)
        for a, b in ((self.Vcs, self.Vs), (self.Ve, self.Vce)):
            if not np.array_equal(a.dofmap.list, b.dofmap.list):
                raise RuntimeError("P1 spaces on one submesh with different dof numbers")
        return J_c, lin_c

    # -- PETSc objects -------------------------------------------------------------------------
    def _build_solver(self, i_ref_pA: float, snes_options: dict):
        from dolfinx.fem.petsc import create_vector

        spaces = [u.function_space for u in self.fields]
        self.x = create_vector(spaces, kind="mpi")
        self._block_vecs = [dolfinx.la.vector(V.dofmap.index_map, V.dofmap.index_map_bs) for V in spaces]
        sizes = [u.function_space.dofmap.index_map.size_local for u in self.fields]
        self.field_sizes = sizes
        if self.solver_spec.name == "auto":
            n_global = self.comm.allreduce(int(sum(sizes)), op=MPI.SUM) + 1
            self.solver_spec = LinearSolverSpec(choose_solver(n_global), self.solver_spec.options)
        self.n = int(sum(sizes))
        offs = np.concatenate([[0], np.cumsum(sizes)])
        self.offsets = offs
        # owned rows of Dirichlet dofs in the block vector (for the border column)
        rows = []
        for bc, k in zip(self.bcs, self._bc_fields):
            dofs = bc.dof_indices()[0]
            dofs = dofs[dofs < sizes[k]]
            rows.append(offs[k] + dofs)
        self.bc_rows = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
        self.sys = BorderedSystem(self.comm, self.solver_spec, sizes, self.prefix + "inner_")
        self.X = augmented_vector(self.comm, self.n)
        self.R = self.X.duplicate()
        N = self.X.getSize()
        nloc = self.X.getLocalSize()
        self.Jshell = PETSc.Mat().createPython(((nloc, N), (nloc, N)), context=self.sys, comm=self.comm)
        self.Jshell.setUp()
        snes = PETSc.SNES().create(self.comm)
        snes.setOptionsPrefix(self.prefix)
        snes.setFunction(self._residual, self.R)
        snes.setJacobian(self._jacobian, self.Jshell, self.Jshell)
        opts = {"snes_type": "newtonls", "snes_linesearch_type": "nleqerr", "snes_max_it": SNES_MAX_ITS,
                "snes_atol": 1e-10 * i_ref_pA, "snes_rtol": 1e-14, "snes_stol": 1e-14,
                "snes_divergence_tolerance": -1}
        opts.update(outer_ksp_options(self.solver_spec, i_ref_pA))
        opts.update(snes_options)
        opts.update({k.removeprefix(self.prefix): v for k, v in self.solver_spec.options.items()
                     if k.startswith(self.prefix) and not k.startswith(self.prefix + "inner_")})
        self._option_keys = set_options(self.prefix, opts)
        snes.setFromOptions()
        ksp = snes.getKSP()
        ksp.setFromOptions()
        pc = ksp.getPC()
        pc.setType("python")
        pc.setPythonContext(self.sys)
        if self.solver_spec.krylov_roles_apply():
            rtol = PETSc.Options().getReal(self.prefix + LINESEARCH_RTOL_KEY, LINESEARCH_RTOL)
            self.sys.roles = KrylovRoles(ksp.getTolerances()[0], rtol)
            self.sys.roles.attach(ksp)
        self.snes = snes


    # -- state -----------------------------------------------------------------------------------
    def set_initial_state(self):
        p = self.params
        self.theta_s.x.array[:] = p.initial_lithiation
        self.theta_s_old.x.array[:] = p.initial_lithiation
        self.psi_s.x.array[:] = 0.0
        self.phi_e.x.array[:] = 0.0
        if not self.frozen_ce:
            self.theta_e.x.array[:] = 1.0
            self.theta_e_old.x.array[:] = 1.0
        self.V.value = float(p.ocp.numpy(p.initial_lithiation))

    def snapshot(self) -> tuple:
        """Copies of every field array and V (to restore after a failed step)."""
        return tuple(u.x.array.copy() for u in self.fields) + (float(self.V.value),)

    def restore(self, snap: tuple):
        for u, a in zip(self.fields, snap[:-1]):
            u.x.array[:] = a
        self.V.value = snap[-1]

    def accept(self, dt: float | None = None, current_A=None):
        """Make the current concentrations the old ones (after an accepted step of length ``dt``
        at ``current_A``, or under the control whose ``key`` that is; both are remembered for the
        predictor)."""
        if dt is not None and self.predictor:
            prev = self._history
            state = self.snapshot()
            self._history = {"state": state, "dt": dt, "current": current_A,
                             "delta": (tuple(a - b for a, b in zip(state, prev["state"]))
                                       if prev is not None and prev["current"] == current_A else None)}
        self.theta_s_old.x.array[:] = self.theta_s.x.array
        if not self.frozen_ce:
            self.theta_e_old.x.array[:] = self.theta_e.x.array

    def reset_history(self):
        self._history = None

    @property
    def field_names(self) -> list[str]:
        """Names of :attr:`fields`, in order: theta_s, psi_s, phi_e[, theta_e]."""
        return ["theta_s", "psi_s", "phi_e", "theta_e"][: len(self.fields)]

    def old_field(self, name: str):
        """The previous-time-step copy of field ``name`` (None for the potentials)."""
        return {"theta_s": self.theta_s_old, "theta_e": getattr(self, "theta_e_old", None)}.get(name)

    @property
    def predictor_history(self) -> dict | None:
        """The predictor's memory (for checkpoints): ``{"state", "dt", "current", "delta"}`` with
        ``state``/``delta`` tuples of one array per field followed by V; None before two steps."""
        return self._history

    @predictor_history.setter
    def predictor_history(self, value: dict | None):
        self._history = value

    def _predict(self, current_A, dt: float):
        """Initial guess: linear extrapolation of the last two accepted states (same control:
        ``current_A`` is the control's ``key``, the current for a galvanostatic step),
        concentrations kept inside their bounds; else the last state."""
        h = self._history
        if h is None or h["delta"] is None or h["current"] != current_A:
            return
        r = min(dt / h["dt"], 2.0)
        for k, u in enumerate(self.fields):
            u.x.array[:] = h["state"][k] + r * h["delta"][k]
        hi = 1.0 - 1e-6
        self.theta_s.x.array[:] = np.clip(self.theta_s.x.array, 1e-6, hi)
        if not self.frozen_ce:
            self.theta_e.x.array[:] = np.maximum(self.theta_e.x.array, 1e-6)
        self.V.value = h["state"][-1] + r * h["delta"][-1]

    # -- Newton solve ----------------------------------------------------------------------------
    @property
    def control(self) -> CurrentControl | VoltageControl:
        """What fixes V in the global row (:mod:`fem_twin.fem.control`): the voltage control of a
        potentiostatic solve, else the applied current ``I``."""
        return self._voltage_control or CurrentControl(float(self.I.value) / PA)

    def solve(self, control, dt: float, transport: bool = True, max_its: int | None = None,
              lithiation_overshoot: float = 0.0) -> tuple[bool, int, int, str]:
        """Newton for one backward-Euler step of length ``dt`` (s) under ``control``: an applied
        current in A (> 0 discharge), a :class:`~fem_twin.fem.control.CurrentControl` or a
        :class:`~fem_twin.fem.control.VoltageControl` (V held; the current is then the output,
        ``-interface_current_A()``).

        ``max_its`` (optional) lowers SNES's iteration limit for this solve (a time step fails fast).
        ``lithiation_overshoot``: the solution is refused (reason :data:`CONCENTRATION_FAILURE`) when an
        NCM node's lithiation is outside (-this, 1 + this) (:meth:`concentrations_ok`).

        Returns (converged, Newton iterations, linear iterations, reason). Linear iterations are
        Krylov iterations on the bordered system (fieldsplit) or direct solves (mumps). On
        failure the fields hold the last iterate: restore a snapshot before retrying.
        """
        from dolfinx.fem.petsc import assign

        control = as_control(control)
        self._voltage_control = control if control.potentiostatic else None
        self.I.value = 0.0 if control.potentiostatic else control.current_A * PA
        self.dt.value = dt
        self.transport.value = 1.0 if transport else 0.0
        if transport and self.predictor:
            self._predict(control.key, dt)
        if control.potentiostatic:
            self.V.value = control.voltage_V
        assign(self.fields, self.x)
        with self.X as out:
            out[: self.n] = self.x.getArray(readonly=True)
            if self.comm.rank == 0:
                out[self.n] = float(self.V.value)
        self.sys.linear_its = 0
        self.sys.new_solve()
        own_max = self.snes.getTolerances()[3]
        if max_its is not None and max_its < own_max:
            self.snes.setTolerances(max_it=int(max_its))
        try:
            self.snes.solve(None, self.X)
            reason = self.snes.getConvergedReason()
            ok = reason > 0
            why = str(reason)
        except PETSc.Error as exc:  # e.g. a failed factorisation or inner Krylov solve
            ok, why = False, f"PETSc error {exc.ierr}"
        finally:
            self.snes.setTolerances(max_it=own_max)
        its = self.snes.getIterationNumber()
        lits = self.sys.linear_its if self.sys.exact else self.snes.getLinearSolveIterations()
        self._load(self.X)
        self.x.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
        assign(self.x, self.fields)
        if ok and not self.concentrations_ok(lithiation_overshoot):
            ok, why = False, CONCENTRATION_FAILURE
        return ok, its, lits, why

    def concentrations_ok(self, lithiation_overshoot: float = 0.0) -> bool:
        """Every NCM node's lithiation inside (-tol, 1 + tol) (``tol = lithiation_overshoot``) and, when
        c_e is solved for, every electrolyte node's c_e > 0 (collective)."""
        tol = float(lithiation_overshoot)
        xs = self.theta_s.x.array
        good = bool(np.all(np.isfinite(xs)) and np.all(xs > -tol) and np.all(xs < 1.0 + tol))
        if not self.frozen_ce:
            xe = self.theta_e.x.array
            good = good and bool(np.all(np.isfinite(xe)) and np.all(xe > 0))
        return bool(self.comm.allreduce(int(good), op=MPI.MIN))

    # -- diagnostics -----------------------------------------------------------------------------
    def interface_current_A(self) -> float:
        return global_sum(self.comm, dolfinx.fem.assemble_scalar(self.g_c)) / PA

    def li_current_A(self) -> float:
        """Current from the Li metal into the electrolyte (A; equals the applied current)."""
        if self.li_current_c is None:  # ideal contact: the reaction of phi_e's equation
            return -self.interface_current_A()
        return global_sum(self.comm, dolfinx.fem.assemble_scalar(self.li_current_c)) / PA

    def mean_lithiation(self) -> float:
        return global_sum(self.comm, dolfinx.fem.assemble_scalar(self.lith_c)) / self.domains.ncm_volume_um3

    def lithiation_excess(self) -> float:
        """NCM lithiation above 1 as a mean over the NCM volume: sum_i V_i max(x_i - 1, 0) / V_NCM
        (V_i the lumped volume of node i); 0 while every node is at or below c_max. Collective."""
        return global_sum(self.comm, dolfinx.fem.assemble_scalar(self.excess_c)) / self.domains.ncm_volume_um3

    def lithium_in_ncm_mol(self) -> float:
        return (global_sum(self.comm, dolfinx.fem.assemble_scalar(self.lith_c)) * 1e-18
                * self.params.c_ncm_max_mol_m3)

    def field_range(self, u) -> tuple[float, float]:
        a = u.x.array
        lo = self.comm.allreduce(float(a.min()) if a.size else np.inf, op=MPI.MIN)
        hi = self.comm.allreduce(float(a.max()) if a.size else -np.inf, op=MPI.MAX)
        return lo, hi

    @property
    def num_dofs(self) -> int:
        return int(self.X.getSize())

    def destroy(self):
        for o in (self.snes, self.Jshell, self.X, self.R, self.A, self._Alin, self.Anest, self.x,
                  *(M for _, _, M in self.lin_mats), *(b for row in self._blocks for b in row)):
            if o is not None:
                o.destroy()
        self.sys.free()
        clear_options(self._option_keys)  # no "unused option" warnings at exit
