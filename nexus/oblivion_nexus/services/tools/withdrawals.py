"""Approvals withdrawn because a person stopped their task.

The task flow sits below the Tool Gateway, so it only marks a stopped task's pending approvals
``withdrawing`` (from then on nobody can approve them). Every API replica's approval sweep then
concludes each exactly once as ``withdrawn`` — its audit record, its Slack message and the agent's
TOOL_RESULT say so — rather than letting it run into its deadline and read as expired.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from oblivion_nexus.resources import Resources
from oblivion_nexus.services.tools.gateway import ToolGateway
from oblivion_nexus.stores import tables as t

# What the task flow (``taskflow.context``, which the Tool Gateway may not import: it reaches the agent
# gateway and the Memory Bank) marks a stopped task's pending approvals.
WITHDRAWING = "withdrawing"
WITHDRAWN = "withdrawn"


async def conclude_withdrawn(resources: Resources, tools: ToolGateway) -> int:
    """Conclude every approval the task flow withdrew (claimed once across replicas); how many."""
    now = dt.datetime.now(dt.UTC)
    async with resources.sessionmaker() as session:
        claimed = (
            await session.execute(
                update(t.ToolApproval)
                .where(t.ToolApproval.status == WITHDRAWING)
                .values(status=WITHDRAWN, decided_at=now)
                .returning(t.ToolApproval)
            )
        ).scalars()
        rows = list(claimed)
        await session.commit()
    for row in rows:
        # The Tool Gateway's own ending of a decided approval (audit, Slack message, TOOL_RESULT).
        await tools._conclude(row, WITHDRAWN, None)
    return len(rows)
