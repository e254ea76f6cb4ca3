"""The fixtures of saga_local's patch tests: moto with its Step Functions interpreter, a Lambda runner made of Python
callables, and a moto server patched as the local stack runs it (their helpers: tests/support/emulator.py)."""

from collections.abc import Iterator

import pytest
import requests

from saga_local.awslambda.invoke_hook import run_lambdas_with
from saga_local.core import patches
from saga_local.stepfunctions.inprocess import INTERPRETER_CONFIG
from tests.support.emulator import Behaviour, Local


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Iterator[Local]:
    from moto import mock_aws

    patches.apply_all()
    with mock_aws(config=INTERPRETER_CONFIG):
        yield Local()


@pytest.fixture
def behaviour() -> Iterator[Behaviour]:
    """Install a Behaviour as the Lambda runner; the test fills in its functions."""
    runner = Behaviour()
    previous = run_lambdas_with(runner)
    yield runner
    assert run_lambdas_with(previous) is runner


@pytest.fixture
def server() -> Iterator[str]:
    """A moto server with every registered patch, as the local stack runs it; its endpoint URL."""
    from moto.server import ThreadedMotoServer

    patches.apply_all()
    instance = ThreadedMotoServer(port=0, verbose=False)
    instance.start()
    host, port = instance.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        requests.post(f"http://{host}:{port}/moto-api/reset", timeout=5)
        instance.stop()
