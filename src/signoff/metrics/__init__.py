"""Metrics: what the humans add and what it costs.

The formula modules (``kpis``, ``estimates``, ``agreement``, ``fairness``, ``drift``) are pure functions over
arrays and plain values: they know nothing of the database, so they can be checked on cases worked out by hand.
Reading the numbers out of the store is a separate concern that lives beside them.
"""
