"""HTTP adapter: admission webhook, metrics and health endpoints (aiohttp)."""
