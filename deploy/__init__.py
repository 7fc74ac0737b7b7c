"""Deployment: local runner, provisioning, mail sink, container and Kubernetes files."""
