"""``metallb plan``: what the controller and speakers would do, computed offline.

Pure: it takes the objects of the input files as dicts and returns plain values, using
the same configuration builder, allocator and election as the daemons. The rules for
ordering, down nodes and output fields are in DESIGN.md ("Interfaces others rely on").
"""

from metallb.plan.core import PlanOutput, ServicePlan, plan_objects

__all__ = ["PlanOutput", "ServicePlan", "plan_objects"]
