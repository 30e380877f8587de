"""Structure analysis: volume fractions, connectivity (dead particles, percolation), contact areas."""
