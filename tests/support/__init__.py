"""Test helpers shared by every layer: polling, a TCP proxy, broker taps."""
