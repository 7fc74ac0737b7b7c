"""norgate auth service."""
