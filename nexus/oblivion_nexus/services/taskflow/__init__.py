"""The task flow: ClickUp and Slack webhooks in, Slack threads, ClickUp comments and agent events out.

Accepting (in an API replica): ``webhooks`` proves the sender (``signatures``), parses the body and
queues it durably before answering 2xx.

Carrying out (in the worker): ``jobs`` sends each queued webhook to its step:

- ``intake``: a task summoning an agent becomes a Slack root message and a TASK_ASSIGNED;
- ``comments``: a ClickUp comment becomes a reply in the task's Slack thread;
- ``replies``: a person's Slack reply becomes a ClickUp comment;
- ``mentions``: ``@alias`` in a tracked thread wakes that agent;
- ``lifecycle``: status, description and deletion of a tracked task.

What the steps share: ``context`` (``FlowContext``: resources, queueing events for agents, who
Nexus is), ``clients`` (the Slack and ClickUp clients), ``tracked_tasks`` (projects, summoned
agents, the task ↔ thread mapping), ``threads`` (which thread a message is in, and whether Nexus
wrote it), ``mention_parsing`` (aliases and user mentions in text), ``mirror`` (writing into the
thread and the task exactly once) on top of ``ledger`` (exactly-once writes, no echoes).

Also here: ``webhook_upkeep`` (the ClickUp webhooks Nexus creates and keeps alive, and the catch-up
after an outage) and ``outcomes`` (what became of a task, for ``oblivion trigger``).
"""
