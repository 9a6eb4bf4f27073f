"""The Tool Gateway: agents ask for actions, Nexus decides, executes with the stored credential, records.

Decisions (:mod:`.policy`), the scrubbing of credential values from whatever comes back
(:mod:`.scrub`) and the per-workgroup audit hash chain (:mod:`.audit_chain`) are pure functions, so
every rule is a line in a table of tests.
"""
