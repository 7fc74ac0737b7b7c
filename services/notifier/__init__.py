"""norgate notifier service."""
