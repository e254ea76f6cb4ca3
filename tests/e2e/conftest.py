"""The local stack, started once for the e2e tests exactly as `make local` starts it (a subprocess
running `python -m saga_local up`), on free ports and its own state folder, so a developer's running
stack is left alone. Retry back-off is scaled down by SAGA_LOCAL_RETRY_SCALE and Task timeouts up by
SAGA_LOCAL_TIMEOUT_SCALE, never by editing the ASL."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from saga_local.launch import launched_stack
from tests.support.stack import START_TIMEOUT_SECONDS, LocalStackHandle


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackHandle]:
    settings = {
        "SAGA_LOCAL_FAULTS_FILE": str(tmp_path_factory.mktemp("faults") / "faults.json"),
        "SAGA_LOCAL_RETRY_SCALE": "0.01",
        # Every emulated Lambda shares this machine: give Tasks the time a Lambda fleet would not need.
        "SAGA_LOCAL_TIMEOUT_SCALE": "10",
        "PYTHONUNBUFFERED": "1",
    }
    with launched_stack(settings, timeout=START_TIMEOUT_SECONDS) as stack:
        yield LocalStackHandle(
            api_url=stack.outputs["LocalApiUrl"],
            api_key=stack.outputs["ApiKey"],
            endpoint_url=stack.outputs["AwsEndpointUrl"],
            outputs=stack.outputs,
            state=json.loads((stack.state_dir / "stack.json").read_text()),
            state_dir=stack.state_dir,
            environment=stack.environment,
        )


@pytest.fixture
def faults(local_stack: LocalStackHandle) -> Iterator[Any]:
    """Write fault rules for the running stack's Lambda runtime; cleared after the test."""
    path = Path(local_stack.environment["SAGA_LOCAL_FAULTS_FILE"])

    def inject(rules: list[dict[str, Any]]) -> None:
        path.write_text(json.dumps({"faults": rules}))

    yield inject
    path.unlink(missing_ok=True)
