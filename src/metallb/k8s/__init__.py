"""Kubernetes adapter: API client, informers, workqueue and status writers (asyncio).

- ``source``: list and watch one resource over lightkube (bookmarks, 410 as ``Expired``).
- ``cache``: objects by ``namespace/name`` key, with named secondary indexes.
- ``informer``: list, watch, relist-and-diff on 410, backoff; ``has_synced``; key handlers.
- ``workqueue``: client-go's stingy, one-worker-per-key queue with per-key backoff.
- ``runner``: informers to queue to ``reconcile(key) -> Result``, with the retry policy.
- ``clock`` and ``backoff``: injectable time and the delay policies.
"""
