"""Asterisk configuration templates, rendered by `hotline asterisk-config`."""
