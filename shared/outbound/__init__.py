"""Calls our services make to merchants' own URLs (webhooks, price triggers): how they
are signed, and which addresses they may reach."""
