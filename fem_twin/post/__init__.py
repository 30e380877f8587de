"""Post-processing: pictures of structures (:mod:`fem_twin.post.pictures`).

Submodules import matplotlib / pyvista lazily, so importing this package is cheap.
"""
