"""Layer 3: the flagging engine. Policies are pure functions from whole arrays of scores to routes."""

from __future__ import annotations

from signoff.routing.policy import INVALID_OUTPUT_RULE, Batch, Policy, PolicyState, Profile, Route

__all__ = ["INVALID_OUTPUT_RULE", "Batch", "Policy", "PolicyState", "Profile", "Route"]
