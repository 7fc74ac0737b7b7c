"""Plumbing every norgate service shares."""
