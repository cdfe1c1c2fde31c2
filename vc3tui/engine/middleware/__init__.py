"""Middleware plugins: the manager on the head, the worker in each pilot, and what they report
(registry.middleware_for picks one by kind)."""
