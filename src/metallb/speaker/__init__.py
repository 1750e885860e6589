"""Speaker core: which IPs this node announces, and how, as values the net adapter applies. Pure."""
