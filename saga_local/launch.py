"""Start a local stack in a subprocess, as `make local` does, on free ports and its own state folder,
so that a developer's running stack is left alone. For benchmarks and scripts."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saga_local.cloudformation.template import ROOT

READY_LINE = "Local stack ready"  # what `saga-local up` prints once the stack answers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Launched:
    outputs: dict[str, Any]  # .local/outputs.json of that stack
    state_dir: Path
    startup_seconds: float  # process start to the ready line
    pid: int  # the stack's process (its Lambda workers are its children)
    environment: dict[str, str]  # the stack's environment: the CLI reaches it with the same
    terminal: Path  # what `saga-local up` printed (its stdout and stderr): the banner, a line per request


@contextlib.contextmanager
def launched_stack(
    extra_env: dict[str, str] | None = None, timeout: float = 120, *, keep: bool = False
) -> Iterator[Launched]:
    """A stack in its own process, on free ports, with its state in a temporary folder: removed afterwards unless
    `keep` (a chaos run keeps the logs and traces its report points at) or something failed."""
    folder = Path(tempfile.mkdtemp(prefix="saga-local-"))
    ports = {name: str(free_port()) for name in ("SAGA_LOCAL_AWS_PORT", "SAGA_LOCAL_API_PORT", "SAGA_LOCAL_XRAY_PORT")}
    env = {**os.environ, **ports, "SAGA_LOCAL_STATE_DIR": str(folder / "state"), **(extra_env or {})}
    log_path = folder / "stack.log"
    started = time.perf_counter()
    with open(log_path, "w") as log:  # a pipe nobody reads would freeze the stack once full
        process = subprocess.Popen([sys.executable, "-m", "saga_local", "up"], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    try:
        while READY_LINE not in log_path.read_text():
            if process.poll() is not None or time.perf_counter() - started > timeout:
                stack_log = Path(env["SAGA_LOCAL_STATE_DIR"]) / "logs" / "stack.log"
                detail = stack_log.read_text()[-3000:] if stack_log.exists() else ""
                raise RuntimeError(f"the local stack did not start:\n{log_path.read_text()[-3000:]}\n{detail}")
            time.sleep(0.05)
        startup = time.perf_counter() - started
        state_dir = Path(env["SAGA_LOCAL_STATE_DIR"])
        outputs = json.loads((state_dir / "outputs.json").read_text())
        yield Launched(outputs, state_dir, startup, process.pid, env, log_path)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)  # only when all went well: a failure keeps the folder and its log
