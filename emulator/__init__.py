"""An Asterisk emulator faithful to ../shared/asterisk-facts.md, for tests, benchmarks and the demo.

FastAGI side: places calls into our FastAGI server like res_agi does.
"""
