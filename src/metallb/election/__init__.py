"""Layer 2 owner election core: which node answers for which IP. Pure."""
