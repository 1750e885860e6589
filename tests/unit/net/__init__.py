"""Unit tests of the network adapter that need no privileges (socketpairs, fakes)."""
