"""The REST edge: thin handlers that check a permission and call a service."""
