"""pip-audit of pinned requirement files against PyPI's vulnerability data, as
`pip-audit -s pypi --no-deps --disable-pip -r FILE...` does, with one fallback.

pip-audit asks PyPI for each pin's release JSON (`/pypi/<name>/<version>/json`). Where that answers 404 (this
project's machines reach PyPI through a mirror that serves only the project-level JSON, and OSV not at all), a pin
that is the project's latest release is audited from the project-level JSON (`/pypi/<name>/json`), whose
`vulnerabilities` are the latest release's. Any other pin is reported as not audited, by name.

Exit status: 1 if a pin has a known vulnerability not in IGNORED (with its fix versions), else 0.

    .venv-security/bin/python tests/security/pip_audit_pins.py requirements-dev.txt functions/shared/requirements.txt
"""

import re
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from packaging.version import Version
from pip_audit._audit import Auditor
from pip_audit._dependency_source import RequirementSource
from pip_audit._service import PyPIService
from pip_audit._service.interface import Dependency, ResolvedDependency, VulnerabilityResult
from requests.adapters import HTTPAdapter

# Vulnerability id -> why it is accepted. Only for a vulnerability with no fixed release, or one whose code path
# this project cannot reach; say which.
IGNORED: dict[str, str] = {}

RELEASE_JSON = re.compile(r"^https://pypi\.org/pypi/(?P<name>[^/]+)/(?P<version>[^/]+)/json$")


class LatestReleaseFallback(HTTPAdapter):
    """Answers a release-JSON 404 with the project JSON when the asked version is the latest release."""

    fallbacks: set[str]

    def __init__(self) -> None:
        super().__init__()
        self.fallbacks = set()

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().send(request, *args, **kwargs)
        match = RELEASE_JSON.match(request.url or "")
        if response.status_code != 404 or match is None:
            return response
        project = request.copy()
        project.prepare_url(f"https://pypi.org/pypi/{match['name']}/json", None)
        latest = super().send(project, *args, **kwargs)
        if latest.status_code == 200 and Version(latest.json()["info"]["version"]) == Version(match["version"]):
            self.fallbacks.add(match["name"])
            return latest
        return response


class ConcurrentPyPIService(PyPIService):
    """PyPIService asking about several pins at once: one request after another took about a minute here."""

    def query_all(self, specs: Iterator[Dependency]) -> Iterator[tuple[Dependency, list[VulnerabilityResult]]]:
        with ThreadPoolExecutor(max_workers=16) as pool:
            yield from pool.map(self.query, specs)


def main(files: list[str]) -> int:
    if not files:
        print(__doc__, file=sys.stderr)
        return 2
    service = ConcurrentPyPIService(timeout=30)
    fallback = LatestReleaseFallback()
    service.session.mount("https://pypi.org/pypi/", fallback)
    source = RequirementSource([Path(f) for f in files], no_deps=True, disable_pip=True)

    audited = 0
    not_audited: list[str] = []
    found: list[str] = []
    ignored: list[str] = []
    for dependency, vulnerabilities in Auditor(service).audit(source):
        if not isinstance(dependency, ResolvedDependency):
            not_audited.append(dependency.name)
            continue
        audited += 1
        for vulnerability in vulnerabilities:
            ids = {vulnerability.id, *vulnerability.aliases}
            entry = f"{dependency.name}=={dependency.version} {vulnerability.id} fixed in " + (
                ", ".join(map(str, vulnerability.fix_versions)) or "no release"
            )
            (ignored if ids & IGNORED.keys() else found).append(entry)

    total = audited + len(not_audited)
    print(f"pip-audit (PyPI): {total} pins in {', '.join(files)}")
    print(f"  audited: {audited} ({len(fallback.fallbacks)} from the project JSON, being the latest release)")
    if not_audited:
        print(f"  not audited ({len(not_audited)}, no release JSON reachable and not the latest release): "
              + ", ".join(sorted(not_audited)))  # fmt: skip
    for entry in ignored:
        print(f"  ignored (see IGNORED): {entry}")
    for entry in found:
        print(f"  VULNERABLE: {entry}")
    print(f"  known vulnerabilities: {len(found)}, ignored: {len(ignored)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
