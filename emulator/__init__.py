"""An Asterisk emulator (FastAGI calls, a manager interface, a switch) for tests, benchmarks and the demo."""
# Faithful to ../shared/asterisk-facts.md: it places calls into our FastAGI server as
# res_agi does, and speaks AMI as Asterisk 22 does.
