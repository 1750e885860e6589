"""``metallb plan``: what the controller and speakers would do, computed offline.

Pure: it takes the objects of the input files as dicts and returns plain values, using
the same configuration builder, allocator and election as the daemons. The rules for
ordering, down nodes and output fields are in :mod:`metallb.plan.core`; the JSON shape
is :meth:`metallb.plan.core.PlanOutput.to_json`'s.
"""

from metallb.plan.core import PlanOutput, ServicePlan, plan_objects

__all__ = ["PlanOutput", "ServicePlan", "plan_objects"]
