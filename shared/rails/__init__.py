"""Payment rails, money in and money out: one object per rail (base.Rail), the sandbox
rails (sandbox), and which rail serves what in each mode (registry). Checkout's
connectors and billing's payout rails are this package seen from each service."""
