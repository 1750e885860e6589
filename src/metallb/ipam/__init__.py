"""IP address management core: pools, allocation and sharing rules. Pure and synchronous."""
