"""Controller core: what to do for each Service, as values the k8s adapter applies. Pure."""
