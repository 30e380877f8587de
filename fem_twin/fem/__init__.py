"""Finite-element problems on tagged voxel meshes (DOLFINx)."""
