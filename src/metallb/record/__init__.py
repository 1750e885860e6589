"""How a Kubernetes Event is recorded: client-go ``tools/record``'s correlation. Pure.

:mod:`metallb.record.correlator` decides, for each Event a process wants to record,
whether it becomes a new Event object, a patch of an existing one (``count`` and
``lastTimestamp`` grow), a "(combined from similar events)" object, or nothing (rate
limited). The controller and the speakers share it; the writes themselves are made by
:mod:`metallb.k8s.events`.
"""

from metallb.record.correlator import (
    COMBINED_PREFIX,
    EventCorrelator,
    ObjectRef,
    Occurrence,
    Source,
    Write,
)

__all__ = ["COMBINED_PREFIX", "EventCorrelator", "ObjectRef", "Occurrence", "Source", "Write"]
