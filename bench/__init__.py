"""Benchmarks (`make bench`): each prints its figures and writes bench/results/*.json."""
