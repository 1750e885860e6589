"""Kubernetes adapter: API client, informers, workqueue and status writers (asyncio)."""
