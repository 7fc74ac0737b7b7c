"""norgate billing service."""
