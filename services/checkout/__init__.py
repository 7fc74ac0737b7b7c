"""norgate checkout service."""
