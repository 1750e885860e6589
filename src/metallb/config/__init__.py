"""Configuration core: the metallb.io API models, validation of a cluster snapshot
into an immutable Config, and converters from the legacy formats. Pure: no I/O."""
