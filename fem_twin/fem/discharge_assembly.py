"""The SNES callbacks of :class:`fem_twin.fem.discharge.DischargeProblem`: the residual and the
Newton Jacobian of the fields plus V, and the border of the bordered system (dF/dV, dg/du, dg/dV;
what the global row g holds -- the current condition or a held voltage -- comes from
``self.control``, :mod:`fem_twin.fem.control`).
One assembler: the bulk terms from their UFL forms, the interface terms node by node
(:mod:`fem_twin.fem.interface_nodal`), the Jacobian straight into one monolithic AIJ matrix.
(The tests' reference, the whole residual and Jacobian assembled from the UFL forms, is
``tests/reference_assembly.py``.) A mixin: the state (fields, forms, matrices) is built by
DischargeProblem, the matrices used here by :meth:`JacobianAssembly._build_matrices`."""

from __future__ import annotations

import time

import numpy as np

from .._dolfinx import PETSc, dolfinx
from .discharge_solvers import global_sum, monolithic_local_to_global


class JacobianAssembly:
    """Residual, Jacobian and border assembly of :class:`~fem_twin.fem.discharge.DischargeProblem`.

    Units: residual rows and g in pA, Jacobian entries in pA per unit of the column's unknown
    (1 for the lithiations, V for the potentials), d = dg/dV in pA/V."""

    def _build_matrices(self, J_c, lin_c):
        """The matrices of the Jacobian, with the pattern of the whole Jacobian form ``J_c``
        (compiled blocks): the block nest ``self.Anest``, the cached linear bulk blocks
        ``self.lin_mats`` from ``lin_c`` (field, scale(dt, transport), compiled form), the
        monolithic AIJ Jacobian ``self.A`` and its linear part ``self._Alin``, the local-to-global
        map of A and the local index sets of the fields in the monolithic local numbering."""
        from dolfinx.fem.petsc import assemble_matrix, create_matrix

        # Block assembly with kind="mpi" of these mixed-domain interior-facet forms gave wrong
        # entries in DOLFINx 0.11 (checked against finite differences); every block is assembled
        # on its own into a MatNest, converted to one AIJ matrix.
        # (Converting the nest before its first assembly left it unusable; out=None would
        # convert in place.)
        # Every block is created on its own from its form and the nest is made of them (a block
        # of create_matrix(J, kind="nest") had another sparsity pattern than create_matrix of the
        # same block form, which breaks the same-pattern additions below).
        # PETSc squeezes the pattern of an AIJ matrix to the entries set before its first final
        # assembly, so each block is first assembled from the whole Jacobian form: the nest blocks
        # and the cached linear blocks then share one pattern whatever is assembled later.
        self._blocks = [[create_matrix(a) for a in row] for row in J_c]
        self.Anest = PETSc.Mat().createNest(self._blocks, comm=self.comm)
        assemble_matrix(self.Anest, J_c, self.bcs, diag=1.0)
        self.Anest.assemble()
        # the linear bulk blocks, assembled once (Dirichlet rows and columns zero; the nest
        # assembly of the rest puts the unit diagonal)
        self.lin_mats = []
        for k, scale, a in lin_c:
            M = create_matrix(J_c[k][k])
            assemble_matrix(M, J_c[k][k], self.bcs, diag=0.0)
            M.assemble()
            M.zeroEntries()
            assemble_matrix(M, a, self.bcs, diag=0.0)
            M.assemble()
            self.lin_mats.append((k, scale, M))
        self.A = self.Anest.convert("aij", out=PETSc.Mat())
        self._Alin = self.A.duplicate(copy=False)
        self._lin_key = None  # (dt, transport) of the linear part in self._Alin
        lg, base = monolithic_local_to_global(self.comm, [u.function_space.dofmap.index_map for u in self.fields])
        lgmap = PETSc.LGMap().create(lg, comm=self.comm)
        self.A.setLGMap(lgmap, lgmap)
        sizes = [u.function_space.dofmap.index_map.size_local + u.function_space.dofmap.index_map.num_ghosts
                 for u in self.fields]
        self._mono_is = [PETSc.IS().createStride(n, first=int(b), step=1, comm=PETSc.COMM_SELF)
                         for n, b in zip(sizes, base)]
        self._bcs_cpp = [bc._cpp_object for bc in self.bcs]

    def _load(self, X):
        xf, v = self.sys.split(X)
        with self.x as a:  # (context manager: PETSc's cached norms stay valid)
            a[:] = xf
        self.V.value = v

    def _scatter_x(self):
        """Owned block-vector values -> the fields (with ghosts)."""
        from dolfinx.fem.petsc import assign

        self.x.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
        assign(self.x, self.fields)

    def _kinetics(self):
        """Butler-Volmer at every interface vertex of the current fields and V."""
        return self.iface.kinetics(self.fields, float(self.V.value))

    def _constraint_row(self, kin, c=None) -> tuple[float, float | None]:
        """The global row of Newton's system at the kinetics ``kin``: galvanostatic,
        g = int_Gamma j dS + I (pA; zero when the interface current equals the applied current I,
        I > 0 on discharge); a CV hold: g = S (V - V_set), c = 0, d = S (:mod:`fem_twin.fem.control`).
        With ``c`` (the owned rows of a block vector) also its derivatives:
        dg/du written into ``c`` (pA per unit of each field) and d = dg/dV (pA/V) returned.
        Collective. Returns (g, d or None)."""
        ctl = self.control  # (fem_twin.fem.control: CurrentControl(I) or VoltageControl(V_set))
        g = ctl.g_pA(global_sum(self.comm, self.iface.current_pA(kin)), float(self.V.value), self.v_scale_pA)
        if c is None:
            return g, None
        self._assemble_blocks(c, None, lambda arrays: self.iface.add_dg_du(arrays, kin))
        return g, ctl.row_derivatives(c, global_sum(self.comm, self.iface.dg_dV_pA(kin)), self.v_scale_pA)

    def _residual(self, snes, X, R):
        t0 = time.perf_counter()
        self._load(X)
        self._scatter_x()
        kin = self._kinetics()
        g, _ = self._constraint_row(kin)
        tr = float(self.transport.value)
        xo = self.x.getArray(readonly=True)
        with R as out:
            self._assemble_blocks(out, self.F_c, lambda arrays: self.iface.add_residual(arrays, kin, tr))
            out[self.bc_rows] = xo[self.bc_rows]  # homogeneous Dirichlet rows: residual = x - 0
            if self.comm.rank == 0:
                out[self.n] = g
        self.timings["residual_s"] += time.perf_counter() - t0
        self.timings["residuals"] += 1

    def _assemble_blocks(self, out, forms, add=None):
        """Assemble one vector form per field (None: nothing) into ``out[offsets[k]:offsets[k+1]]``
        (owned rows); ``add(arrays)`` adds more to the local arrays (owned + ghost) before the
        ghost contributions are summed."""
        for vec in self._block_vecs:
            vec.array[:] = 0.0
        for form, vec in zip(forms or [None] * len(self._block_vecs), self._block_vecs):
            if form is not None:
                dolfinx.fem.assemble_vector(vec.array, form)
        if add is not None:
            add([vec.array for vec in self._block_vecs])
        for k, vec in enumerate(self._block_vecs):
            vec.scatter_reverse(dolfinx.la.InsertMode.add)
            out[self.offsets[k]:self.offsets[k + 1]] = vec.array[: self.field_sizes[k]]

    def _jacobian(self, snes, X, J, P):
        t0 = time.perf_counter()
        self._load(X)
        self._scatter_x()
        kin = self._kinetics()
        self.sys.A = self.assemble_jacobian(kin)
        self.assemble_border(kin)
        self.timings["jacobian_s"] += time.perf_counter() - t0
        self.timings["jacobians"] += 1
        roles = self.sys.roles
        if roles is not None:  # the line-search solves' counts (looser rtol) would not measure drift
            last = roles.last_direction_its
        else:
            last = snes.getKSP().getIterationNumber() if snes is not None else None
        self.sys.update(last_krylov_its=last)
        J.assemble()

    def assemble_border(self, kin=None):
        """The border of Newton's system into ``self.sys`` at the current fields: b = dF/dV and,
        from :meth:`_constraint_row`, c = dg/du, d = dg/dV (``kin``: the interface kinetics,
        evaluated here if None)."""
        if kin is None:
            kin = self._kinetics()
        tr = float(self.transport.value)
        with self.sys.b as b:
            self._assemble_blocks(b, None, lambda arrays: self.iface.add_dF_dV(arrays, kin, tr))
            b[self.bc_rows] = 0.0
        with self.sys.c as c:
            _, self.sys.d = self._constraint_row(kin, c)

    def assemble_jacobian(self, kin=None) -> PETSc.Mat:
        """Field Jacobian dF/du at the current fields into the monolithic AIJ matrix ``self.A``
        (returned): a copy of the linear part for the current (dt, transport) -- the cached
        linear blocks and the Dirichlet diagonal, converted from the nest once per time step --
        plus the bulk non-linear blocks (UFL, through local sub-matrices) and the interface node
        by node from ``kin`` (evaluated here if None). (Converting the whole nest at every Newton
        step cost 0.19 s on the demo electrode.)"""
        from dolfinx import cpp as _cpp

        self._update_linear_part()
        self._Alin.copy(self.A, PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        if kin is None:
            kin = self._kinetics()
        nf = len(self.fields)
        subs = [[self.A.getLocalSubMatrix(self._mono_is[r], self._mono_is[q]) for q in range(nf)]
                for r in range(nf)]
        for r in range(nf):
            for q in range(nf):
                form = self.Jnl_c[r][q]
                if form is not None:
                    _cpp.fem.petsc.assemble_matrix(subs[r][q], form._cpp_object, dolfinx.fem.pack_constants(form),
                                                   dolfinx.fem.pack_coefficients(form), self._bcs_cpp, True)
        self.iface.add_jacobian(subs, kin, float(self.transport.value))
        for r in range(nf):
            for q in range(nf):
                self.A.restoreLocalSubMatrix(self._mono_is[r], self._mono_is[q], subs[r][q])
        self.A.assemble()
        return self.A

    def _update_linear_part(self):
        """``self._Alin`` = the cached linear bulk blocks scaled for the current (dt, transport)
        plus 1 on the Dirichlet diagonal (through the nest; only when dt or transport changed)."""
        key = (float(self.dt.value), float(self.transport.value))
        if key == self._lin_key:
            return
        self.Anest.zeroEntries()
        for k, scale, M in self.lin_mats:
            self.Anest.getNestSubMatrix(k, k).axpy(scale(*key), M, PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        self._add_dirichlet_diagonal()
        self.Anest.assemble()
        self.Anest.convert("aij", out=self._Alin)
        self._lin_key = key

    def _add_dirichlet_diagonal(self):
        """ADD 1 on the diagonal of the owned Dirichlet rows of the nest's diagonal blocks."""
        add = PETSc.InsertMode.ADD_VALUES
        for bc, k in zip(self.bcs, self._bc_fields):
            dofs, n_owned = bc.dof_indices()
            own = np.asarray(dofs[:n_owned], np.int32).reshape(-1, 1)
            self._blocks[k][k].setValuesLocalRCV(own, own, np.ones((own.size, 1, 1)), addv=add)
