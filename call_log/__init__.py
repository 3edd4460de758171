"""The supervisors' call log (通话记录): search, a call's record, export, lost callers.

wazo-call-logd's shape: `schemas` reads a filter from untrusted input, `search` and
`lost_callers` are the queries (no Flask), `export` writes rows as CSV or XLSX in
constant memory, `recordings` finds a call's recording on disk. agent_console/call_log.py
is the thin HTTP layer on top.
"""
