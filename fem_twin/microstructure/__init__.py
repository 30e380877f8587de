"""Voxel microstructures: particle-size distributions, the generator and image input/output."""
