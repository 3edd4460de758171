"""Satisfaction surveys: when to call (the policy) and the dialer that places the calls."""
