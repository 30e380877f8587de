"""Material and cell parameter sets with their sources."""
