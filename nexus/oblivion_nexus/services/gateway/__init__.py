"""The agent gateway: this replica's agent connections and the delivery of queued events to them.

- ``queueing``: ``enqueue_event``, the one way an event is queued for an agent (the hub and the
  task flow both call it, so ``oblivion_events_queued_total`` counts every event once).
- ``hub``: ``DeliveryHub``, this replica's connections, and ``delivery_lifespan`` that runs it.
- ``dispatch``: getting queued events onto connections (pushed events, claims after a wake-up).
- ``upkeep``: the pub/sub listener, heartbeats, silence and token deadlines, the upkeep tick.
- ``connection``: one connection as the replica keeps it.

``dispatch`` and ``upkeep`` see the hub only through the small protocols they declare, never import
it. The durable inbox itself, including redelivery of unacked events, is ``stores/inbox.py``.
"""
