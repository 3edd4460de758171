"""The AMI side: the AMI link, call events, screen pops and their bus, operators' states, callbacks."""
