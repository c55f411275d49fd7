"""Pure, deterministic engine: the live picture, the clearance rules, coordination.

No I/O and no clock: time is always passed in.
"""
