"""Service supervision (服务监督): grading providers, their credit files, commendations and sanctions.

Knows nothing of Flask; imports db/ and config/ only (agent_console/supervision.py is its
console, `hotline regrade` its command).
"""
