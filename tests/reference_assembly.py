"""The UFL reference assembly of the discharge problem (test support, not production code).

Production (``fem_twin/fem/discharge_assembly.py``) splits the model: bulk terms from their UFL
forms, interface terms node by node in numpy, the Jacobian as cached linear blocks plus the
non-linear part straight into one AIJ matrix. :class:`UFLReference` assembles the same
quantities the plain way, from the problem's public UFL model alone -- ``problem.F`` (the whole
residual forms, pA) and ``problem.g`` (the interface current int_Gamma j dS, pA): the whole
residual, the whole Jacobian dF/du, and the border b = dF/dV, c = dg/du, d = dg/dV of the
galvanostatic row g + I. The tests compare the two (``tests/test_discharge.py``).

``rule="midpoint"`` rewrites the model's vertex-rule integrals to the scheme used before the
lumped one: the facet midpoint (degree 1) for the interface and Li-plane integrals and the
consistent mass matrix (estimated degree) for the concentration mass terms. That is another
discretisation, which production no longer offers; :class:`MidpointRuleProblem` runs it through
the stepping to show what the lumped scheme fixes
(``test_lumped_scheme_discharges_to_the_cutoff[False]``).
"""

from __future__ import annotations

import numpy as np
import ufl

from fem_twin._dolfinx import MPI, PETSc, dolfinx
from fem_twin.fem.discharge import DischargeProblem
from fem_twin.fem.domains import DS_LI

RULES = ("vertex", "midpoint")


def with_rule(form, rule: str):
    """``form`` with its vertex-rule integrals (metadata ``quadrature_rule = "vertex"``) on the
    quadrature ``rule``: "vertex" (unchanged) or "midpoint" (cells: the estimated degree, i.e.
    the consistent mass matrix; facets: degree 1, the facet midpoint)."""
    if rule not in RULES:
        raise ValueError(f"rule: expected one of {RULES}, got {rule!r}")
    if rule == "vertex":
        return form
    integrals = []
    for itg in form.integrals():
        md = itg.metadata()
        if md.get("quadrature_rule") == "vertex":
            md = {} if itg.integral_type() == "cell" else {"quadrature_degree": 1}
        integrals.append(itg.reconstruct(metadata=md))
    return ufl.Form(integrals)


class UFLReference:
    """Residual, Jacobian and border of ``problem`` (a DischargeProblem) assembled from its whole
    UFL forms at the problem's current fields and V (with ``rule``, see :func:`with_rule`).

    Layout: the owned rows of each field in turn (the problem's block vector), the galvanostatic
    row last on rank 0; Dirichlet rows as production has them (residual x - 0, unit diagonal,
    b = 0). All methods are collective."""

    def __init__(self, problem: DischargeProblem, rule: str = "vertex"):
        from dolfinx.fem.petsc import create_matrix

        self.pb = pb = problem
        cf = lambda form: dolfinx.fem.form(form, entity_maps=pb.domains.entity_maps)  # noqa: E731
        F = [with_rule(Fi, rule) for Fi in pb.F]
        g = with_rule(pb.g, rule)
        psi = pb.psi_s
        # V enters the forms only through phi_s = psi_s + V: d/dV is the derivative along psi_s = 1
        self._one = dolfinx.fem.Function(psi.function_space)
        self._one.x.array[:] = 1.0
        self.F_c = cf(F)
        self.J_c = cf([[ufl.derivative(Fi, u, ufl.TrialFunction(u.function_space)) for u in pb.fields]
                       for Fi in F])
        self.bF_c = cf([ufl.derivative(Fi, psi, self._one) for Fi in F])
        self.c_c = cf([ufl.derivative(g, u, ufl.TestFunction(u.function_space)) for u in pb.fields])
        self.d_c = cf(ufl.derivative(g, psi, self._one))
        # the diagnostics' currents (pA) by the same rule
        self.g_c = cf(g)
        _, _, ds = pb.domains.measures()
        self.li_current_c = None if pb.j_li_expr is None else cf(
            with_rule(pb.j_li_expr * ds(DS_LI, metadata={"quadrature_rule": "vertex", "quadrature_degree": 1}),
                      rule))
        self._blocks = [[create_matrix(a) for a in row] for row in self.J_c]
        self._nest = PETSc.Mat().createNest(self._blocks, comm=pb.comm)
        self._assemble_nest()
        self.A = self._nest.convert("aij", out=PETSc.Mat())  # (the AIJ layout of the block vector)

    def _sum(self, form) -> float:
        return self.pb.comm.allreduce(dolfinx.fem.assemble_scalar(form), op=MPI.SUM)

    def _vectors(self, forms, out):
        """Assemble one linear form per field into its owned rows of ``out`` (ghosts summed)."""
        pb = self.pb
        for k, form in enumerate(forms):
            vec = dolfinx.fem.assemble_vector(form)
            vec.scatter_reverse(dolfinx.la.InsertMode.add)
            out[pb.offsets[k]:pb.offsets[k + 1]] = vec.array[: pb.field_sizes[k]]

    def residual(self, out):
        """F at the current fields into ``out`` (the owned part of an augmented vector): the
        field rows (pA; Dirichlet rows the field's value, x - 0) and g + I (pA) on rank 0."""
        pb = self.pb
        self._vectors(self.F_c, out)
        owned = np.concatenate([u.x.array[:n] for u, n in zip(pb.fields, pb.field_sizes)])
        out[pb.bc_rows] = owned[pb.bc_rows]
        g = self._sum(self.g_c) + float(pb.I.value)
        if pb.comm.rank == 0:
            out[pb.n] = g

    def _assemble_nest(self):
        from dolfinx.fem.petsc import assemble_matrix

        self._nest.zeroEntries()
        assemble_matrix(self._nest, self.J_c, self.pb.bcs, diag=1.0)
        self._nest.assemble()

    def jacobian(self) -> PETSc.Mat:
        """The whole field Jacobian dF/du (unit diagonal on the Dirichlet rows) as AIJ matrix
        ``self.A`` (returned; overwritten by the next call)."""
        self._assemble_nest()
        self._nest.convert("aij", out=self.A)
        return self.A

    def border(self, b, c) -> float:
        """b = dF/dV (Dirichlet rows 0) and c = dg/du into the owned field rows ``b``, ``c``;
        returns d = dg/dV (pA/V)."""
        self._vectors(self.bF_c, b)
        b[self.pb.bc_rows] = 0.0
        self._vectors(self.c_c, c)
        return self._sum(self.d_c)

    def destroy(self):
        for m in (self.A, self._nest, *(b for row in self._blocks for b in row)):
            m.destroy()


class MidpointRuleProblem(DischargeProblem):
    """The discharge problem on the midpoint-rule scheme (facet-midpoint kinetics, consistent
    mass matrix), assembled by :class:`UFLReference`: the production problem with its residual,
    Jacobian and border replaced; Newton, the bordered solver and the stepping are production's.
    Same arguments as DischargeProblem."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reference = UFLReference(self, "midpoint")
        # the diagnostics (interface and Li currents) by the same rule
        self.g_c, self.li_current_c = self.reference.g_c, self.reference.li_current_c

    def _residual(self, snes, X, R):
        self._load(X)
        self._scatter_x()
        with R as out:
            self.reference.residual(out)

    def assemble_jacobian(self, kin=None) -> PETSc.Mat:
        return self.reference.jacobian()

    def assemble_border(self, kin=None):
        with self.sys.b as b, self.sys.c as c:
            self.sys.d = self.reference.border(b, c)

    def destroy(self):
        self.reference.destroy()
        super().destroy()
