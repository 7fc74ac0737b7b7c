"""norgate fees service."""
