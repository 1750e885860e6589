"""The `metallb` command line: entry points, flags and wiring, no business logic."""
