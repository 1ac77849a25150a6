"""Builders and test models shared by the test suites."""
