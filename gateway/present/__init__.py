"""How stored rows become the values the API shows: plain functions, no GraphQL.

Both executors call these — the strawberry types and the planned executor
(``gateway.planner``) — so a field cannot show one thing through one and another through
the other.
"""
