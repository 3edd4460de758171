"""The Asterisk configuration: templates, their renderer, and the names they share with the code."""
