"""The supervisors' call log: search, a call's recording, CSV/XLSX export, lost callers (no Flask)."""
