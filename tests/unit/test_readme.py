"""The README and the reference in docs/ stay true.

The README is the front door; the reference lives in docs/: every setting in
docs/configuration.md, every routed prefix in docs/api.md, every error code in the table
of docs/errors.md, every module in docs/layout.md; the README links every page of
docs/ and no link leads nowhere. Each test fails when something is left undocumented.
"""

from __future__ import annotations

import re
from pathlib import Path

from services.gateway.routing import MERCHANT_SETTINGS, ROUTES
from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
DOCS = REPO / "docs"


def _doc(name: str) -> str:
    return (DOCS / name).read_text()


def test_every_setting_is_documented_in_the_configuration_page():
    page = _doc("configuration.md")
    missing = [f"NORGATE_{name.upper()}" for name in Settings.model_fields
               if f"| `NORGATE_{name.upper()}` |" not in page]
    assert not missing, f"docs/configuration.md's settings table lacks {missing}"


def test_every_routed_prefix_is_documented_in_the_api_page():
    page = _doc("api.md")
    missing = [prefix for prefix, _ in ROUTES if prefix.rstrip("/") not in page]
    missing += [name for name, _ in MERCHANT_SETTINGS if f"/{name}" not in page]
    assert not missing, f"docs/api.md does not mention {missing}"


def test_every_error_code_is_in_the_catalogue_table():
    from shared.http.errors import ErrorKind, Errors

    page = _doc("errors.md")
    kinds = [k for k in vars(Errors).values() if isinstance(k, ErrorKind)]
    missing = [k.code for k in kinds if f"| `{k.code}` |" not in page]
    assert not missing, f"docs/errors.md's error table lacks {missing}"
    wrong = [k.code for k in kinds if f"| `{k.code}` | {k.status} |" not in page]
    assert not wrong, f"docs/errors.md gives another HTTP status for {wrong}"


def test_the_readme_is_a_front_door_that_links_every_page_of_the_reference():
    assert len(README.splitlines()) <= 220, "the README is the front door: keep it short"
    for command in ("make run", "make test", "make bench", "BENCH_ONLY=", "make chaos",
                    "docker compose up", "kubectl apply -k deploy/k8s",
                    "### A first payment in five minutes", "## Reading the mail sink"):
        assert command in README, f"the README lost {command!r}"
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if f"(docs/{p.name})" not in README]
    assert not unlinked, (f"the README's documentation table does not list {unlinked}: "
                          "add a row (page, what it holds) under \"The documentation\"")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.+)$", page.read_text(), re.M)}


def test_links_between_the_readme_and_docs_lead_to_files_and_headings_that_exist():
    broken = []
    for page in [REPO / "README.md", *sorted(DOCS.glob("*.md"))]:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            linked = page.parent / target if target else page
            if not linked.exists():
                broken.append(f"{page.relative_to(REPO)} → {target}")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{page.relative_to(REPO)} → {target}#{anchor}")
    assert not broken, f"links to files or headings that do not exist: {broken}"


def test_no_page_points_at_design_files_outside_the_repository():
    for page in [REPO / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = page.read_text()
        for name in ("ARCHITECTURE.md", "STYLE.md"):
            assert name not in text, f"{page.relative_to(REPO)} names {name}, not in the repository"


def test_the_layout_page_names_every_module_of_the_services_and_shared():
    page = _doc("layout.md")

    def named(name: str) -> bool:
        return re.search(rf"(?<![\w./]){re.escape(name)}(?![\w])", page) is not None

    files = [p for p in sorted((REPO / "services").glob("*/*.py")) if p.name != "__init__.py"]
    files += [p for p in sorted((REPO / "shared").glob("*.py")) if p.name != "__init__.py"]
    files += [p for p in sorted((REPO / "shared").glob("*/*.py")) if p.name != "__init__.py"]
    files += sorted((REPO / "deploy").glob("*.py"))
    files += sorted((REPO / "deploy" / "scripts").iterdir())
    missing = [str(p.relative_to(REPO)) for p in files if p.name != "__init__.py"
               and not named(p.name)]
    # A service's subpackages (the notifier's email/ and webhooks/, checkout's use_cases/):
    # the folder and each of its modules.
    packages = [d for d in sorted((REPO / "services").glob("*/*/")) if (d / "__init__.py").exists()]
    missing += [str((d / m.name).relative_to(REPO)) for d in packages
                for m in sorted(d.glob("*.py")) if m.name != "__init__.py" and not named(m.name)]
    missing += [f"{d.relative_to(REPO)}/" for d in packages if not named(f"{d.name}/")]
    missing += [f"shared/{d.name}/" for d in sorted((REPO / "shared").iterdir())
                if d.is_dir() and not d.name.startswith("__") and not named(f"{d.name}/")]
    missing += [f"deploy/{d.name}/" for d in sorted((REPO / "deploy").iterdir())
                if d.is_dir() and not d.name.startswith("__") and not named(f"{d.name}/")]
    assert not missing, f"docs/layout.md does not name {missing}"
