"""The gateway's OpenAPI document without a running stack: each service's documented
routes (shared.http.routes: the declarations its router is built from) merged as the
gateway's /openapi.json merges them (services/gateway/docs.py).

    python -m deploy.openapi > sdk/js/openapi.json

sdk/js generates its TypeScript types from that file (`npm run generate`);
tests/integration/test_openapi_document.py fails when the file, or the types, no longer
match the code."""

from __future__ import annotations

import json
import sys
from typing import Any

from shared.http.openapi import build_spec, merge_specs
from shared.settings import Settings

SERVICES = ("auth", "checkout", "billing", "fees", "notifier")
# What the checked-in document names as its server: the local gateway of `make run`.
LOCAL_SERVER = {"url": "http://127.0.0.1:8080", "description": "make run's gateway"}


def document(settings: Settings, servers: list[dict[str, str]] | None = None) -> dict[str, Any]:
    import importlib

    from services.gateway import docs

    specs = [build_spec("gateway", docs.ROUTES.docs)]
    for name in SERVICES:
        app = importlib.import_module(f"services.{name}.app")
        specs.append(build_spec(f"norgate {name}", app.build_spec(settings).docs))
    return merge_specs("norgate", specs, servers=servers or [LOCAL_SERVER])


def main() -> None:
    # The route docs need no secret or mail server; the settings' checks ask for them.
    settings = Settings.model_validate({"smtp_url": "smtp://127.0.0.1:1",
                                        "secret_key": "0" * 64})
    json.dump(document(settings), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
