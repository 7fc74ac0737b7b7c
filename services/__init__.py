"""norgate services, one package each (python -m services.<name>)."""
