"""Network adapter tests in network namespaces, against real clients."""
