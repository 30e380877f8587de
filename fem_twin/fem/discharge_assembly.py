"""The SNES callbacks of :class:`fem_twin.fem.discharge.DischargeProblem`: the residual and the
Newton Jacobian of the fields plus V, assembled three ways -- straight into one AIJ matrix with the
interface node by node (the default), into the block MatNest (bulk forms + nodal interface), or from
the whole UFL Jacobian (``assemble_jacobian_nest(cached=False)``: the tests' reference) -- and the
border of the bordered system (dF/dV, dg/du, dg/dV; the global row g itself and a voltage control's
border come from ``self.control``, :mod:`fem_twin.fem.control`). A mixin: the state (fields, forms, matrices)
is built by DischargeProblem."""

from __future__ import annotations

import time

import numpy as np

from .._dolfinx import PETSc, dolfinx
from .discharge_solvers import global_sum, monolithic_local_to_global


class JacobianAssembly:
    """Residual, Jacobian and border assembly of :class:`~fem_twin.fem.discharge.DischargeProblem`."""

    def _load(self, X):
        xf, v = self.sys.split(X)
        with self.x as a:  # (context manager: PETSc's cached norms stay valid)
            a[:] = xf
        self.V.value = v

    def _residual(self, snes, X, R):
        t0 = time.perf_counter()
        self._load(X)
        self._scatter_x()
        add = None
        if self.nodal:
            kin = self.iface.kinetics(self.fields, float(self.V.value))
            g = global_sum(self.comm, self.iface.current_pA(kin))
            tr = float(self.transport.value)
            add = lambda arrays: self.iface.add_residual(arrays, kin, tr)  # noqa: E731
        else:
            g = global_sum(self.comm, dolfinx.fem.assemble_scalar(self.g_c))
        g = self.control.g_pA(g, float(self.V.value), self.v_scale_pA)  # (fem_twin.fem.control)
        xo = self.x.getArray(readonly=True)
        with R as out:
            self._assemble_blocks(out, self.F_c, add)
            out[self.bc_rows] = xo[self.bc_rows]  # homogeneous Dirichlet rows: residual = x - 0
            if self.comm.rank == 0:
                out[self.n] = g
        self.timings["residual_s"] += time.perf_counter() - t0
        self.timings["residuals"] += 1

    def _scatter_x(self):
        """Owned block-vector values -> the fields (with ghosts)."""
        from dolfinx.fem.petsc import assign

        self.x.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
        assign(self.x, self.fields)

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
        kin = self.iface.kinetics(self.fields, float(self.V.value)) if self.nodal else None
        if self.nodal and self.cache_linear_blocks:
            self.assemble_jacobian_aij(kin)
        else:
            self.assemble_jacobian_nest(kinetics=kin)
            if self.A is None:
                self.A = self.Anest.convert("aij", out=PETSc.Mat())
            else:
                self.Anest.convert("aij", out=self.A)  # same pattern: reuse
        self.sys.A = self.A
        self.assemble_border(kin)
        self.timings["jacobian_s"] += time.perf_counter() - t0
        self.timings["jacobians"] += 1
        self.sys.update(last_krylov_its=snes.getKSP().getIterationNumber() if snes is not None else None)
        J.assemble()

    def assemble_border(self, kin=None):
        """The border of Newton's system into ``self.sys``: b = dF/dV, c = dg/du, d = dg/dV
        (nodal: from the interface ``kin``etics, evaluated here if None)."""
        if self.nodal:
            if kin is None:
                kin = self.iface.kinetics(self.fields, float(self.V.value))
            tr = float(self.transport.value)
            with self.sys.b as b:
                self._assemble_blocks(b, None, lambda arrays: self.iface.add_dF_dV(arrays, kin, tr))
                b[self.bc_rows] = 0.0
            with self.sys.c as c:
                self._assemble_blocks(c, None, lambda arrays: self.iface.add_dg_du(arrays, kin))
            self.sys.d = global_sum(self.comm, self.iface.dg_dV_pA(kin))
        else:
            with self.sys.b as b:
                self._assemble_blocks(b, self.bF_c)
                b[self.bc_rows] = 0.0
            with self.sys.c as c:
                self._assemble_blocks(c, self.c_c)
            self.sys.d = global_sum(self.comm, dolfinx.fem.assemble_scalar(self.d_c))
        self.control.border(self.sys, self.v_scale_pA)  # CV: c = 0, d = S (fem_twin.fem.control)

    def assemble_jacobian_nest(self, cached: bool | None = None, kinetics=None):
        """Field Jacobian into ``self.Anest`` at the current fields: the non-linear part assembled
        (nodal: its bulk forms, then the interface node by node from ``kinetics``, evaluated here
        if None), plus the cached linear bulk blocks scaled for the current dt (``cached=False``:
        the whole Jacobian assembled from its UFL form, the reference)."""
        from dolfinx.fem.petsc import assemble_matrix

        cached = self.cache_linear_blocks if cached is None else cached
        if not cached and self.J_c is None:
            self.J_c = self._compile(self._J_ufl)
        self.Anest.zeroEntries()
        if cached and self.nodal:
            self._assemble_nonlinear_nodal(kinetics)
        else:
            assemble_matrix(self.Anest, self.Jnl_c if cached else self.J_c, self.bcs, diag=1.0)
        self.Anest.assemble()
        if cached:
            dt, tr = float(self.dt.value), float(self.transport.value)
            for k, scale, M in self.lin_mats:
                self.Anest.getNestSubMatrix(k, k).axpy(scale(dt, tr), M, PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
            self.Anest.assemble()

    def assemble_jacobian_aij(self, kin=None):
        """Field Jacobian straight into the monolithic AIJ matrix ``self.A`` (nodal interface):
        a copy of the linear part for the current (dt, transport) -- the cached linear blocks and
        the Dirichlet diagonal, converted from the nest once per time step -- plus the bulk
        non-linear blocks (UFL, through local sub-matrices) and the interface node by node.
        (Converting the whole nest at every Newton step cost 0.19 s on the demo electrode.)"""
        from dolfinx import cpp as _cpp

        if self.A is None:  # the nest holds the whole Jacobian's pattern: convert it once
            self.A = self.Anest.convert("aij", out=PETSc.Mat())
            self._Alin = self.A.duplicate(copy=False)
            self._lin_key = None
            lg, self._mono_base = monolithic_local_to_global(
                self.comm, [u.function_space.dofmap.index_map for u in self.fields])
            lgmap = PETSc.LGMap().create(lg, comm=self.comm)
            self.A.setLGMap(lgmap, lgmap)
            sizes = [u.function_space.dofmap.index_map.size_local + u.function_space.dofmap.index_map.num_ghosts
                     for u in self.fields]
            self._mono_is = [PETSc.IS().createStride(n, first=int(b), step=1, comm=PETSc.COMM_SELF)
                             for n, b in zip(sizes, self._mono_base)]
            self._bcs_cpp = [bc._cpp_object for bc in self.bcs]
        key = (float(self.dt.value), float(self.transport.value))
        if key != self._lin_key:
            self.Anest.zeroEntries()
            for k, scale, M in self.lin_mats:
                self.Anest.getNestSubMatrix(k, k).axpy(scale(*key), M, PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
            self._add_dirichlet_diagonal()
            self.Anest.assemble()
            self.Anest.convert("aij", out=self._Alin)
            self._lin_key = key
        self._Alin.copy(self.A, PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        if kin is None:
            kin = self.iface.kinetics(self.fields, float(self.V.value))
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

    def _add_dirichlet_diagonal(self):
        """ADD 1 on the diagonal of the owned Dirichlet rows of the nest's diagonal blocks."""
        add = PETSc.InsertMode.ADD_VALUES
        for bc, k in zip(self.bcs, self._bc_fields):
            dofs, n_owned = bc.dof_indices()
            own = np.asarray(dofs[:n_owned], np.int32).reshape(-1, 1)
            self._blocks[k][k].setValuesLocalRCV(own, own, np.ones((own.size, 1, 1)), addv=add)

    def _assemble_nonlinear_nodal(self, kin):
        """Bulk non-linear blocks (UFL), the interface node by node, unit diagonal on Dirichlet rows."""
        from dolfinx.fem.petsc import assemble_matrix

        if kin is None:
            kin = self.iface.kinetics(self.fields, float(self.V.value))
        nf = len(self.fields)
        for r in range(nf):
            for q in range(nf):
                if self.Jnl_c[r][q] is not None:
                    assemble_matrix(self._blocks[r][q], self.Jnl_c[r][q], self.bcs, diag=0.0)
        # (DOLFINx inserted its diagonal values: flush before adding)
        self.Anest.assemble(PETSc.Mat.AssemblyType.FLUSH)
        self.iface.add_jacobian(self._blocks, kin, float(self.transport.value))
        self._add_dirichlet_diagonal()
