"""The compose suite drives a `docker compose` stack that deploy/compose/compose-test.sh
(make compose-test, make compose-chaos) started; COMPOSE_TEST_STACK names its
description. In any other pytest run (make test's own, a developer's) the suite is
skipped: make test runs it through make compose-test."""

from __future__ import annotations

import os

import pytest

from tests.compose.stack import ComposeStack, load_stack


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "compose: drives a docker compose stack (make compose-test)")
    config.addinivalue_line(
        "markers", "replicas: needs deploy/compose/replicas.yml's stack (make compose-chaos)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("COMPOSE_TEST_STACK"):
        return
    skip = pytest.mark.skip(reason="needs a compose stack: run make compose-test")
    for item in items:
        if item.get_closest_marker("compose"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def compose_stack() -> ComposeStack:
    return load_stack(os.environ["COMPOSE_TEST_STACK"])
