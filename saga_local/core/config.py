"""Every setting of the local stack, read from the environment in one place, with one prefix: SAGA_LOCAL_.

`load()` builds a frozen `Config` from the environment and validates every value (a bad one raises ConfigError
naming its variable). Nothing reads these variables at import time: the stack reads its Config once when it starts
and hands each part what it needs; the few patches that act deep inside moto (Retry waits, Task timeouts) call
`load()` when they act, so a test can set a variable after the patch is in.

docs/configuration.md is generated from the fields' metadata (`markdown_table()`; a test keeps the two equal):

    .venv/bin/python -m saga_local.core.config > docs/configuration.md
"""

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

PREFIX = "SAGA_LOCAL_"
FUNCTION_ENV_PREFIX = f"{PREFIX}FUNCTION_ENV_"
ROOT = Path(__file__).resolve().parents[2]  # the repository: template.yaml, .local/
HOST = "127.0.0.1"  # every local endpoint listens on the loopback interface only


class ConfigError(ValueError):
    """A setting with a value the local stack cannot use; the message names the variable."""


def _whole_number(variable: str, text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigError(f"{variable} must be a whole number >= 1, got {text!r}")
    return int(text)


def _port(variable: str, text: str) -> int:
    port = _whole_number(variable, text)
    if port > 65535:
        raise ConfigError(f"{variable} must be a port number (1-65535), got {text!r}")
    return port


def _factor(*, zero_allowed: bool) -> Callable[[str, str], float]:
    def parse(variable: str, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero_allowed):
            raise ConfigError(f"{variable} must be a number {'>=' if zero_allowed else '>'} 0, got {text!r}")
        return value

    return parse


def _seconds(variable: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{variable} must be a number of seconds above 0, got {text!r}")
    return value


def _switch(on: str, off: str) -> Callable[[str, str], bool]:
    def parse(variable: str, text: str) -> bool:
        if text not in (on, off):
            raise ConfigError(f"{variable} must be {on!r} or {off!r}, got {text!r}")
        return text == on

    return parse


def _name(variable: str, text: str) -> str:
    if not text.strip():
        raise ConfigError(f"{variable} must not be empty")
    return text


def _path(variable: str, text: str) -> Path:
    return Path(_name(variable, text)).expanduser()


def _address(variable: str, text: str) -> str:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{variable} must be HOST:PORT, got {text!r}")
    return text


def _setting(name: str, parse: Callable[[str, str], Any], default: str, doc: str) -> dict[str, Any]:
    return {"variable": PREFIX + name, "parse": parse, "default": default, "doc": doc}


@dataclass(frozen=True)
class Config:
    """The local stack's settings. Each field's metadata names its variable, its default as written in the table,
    and what it does. Build one with `load()`; tests and tools may `dataclasses.replace` fields."""

    aws_port: int = field(
        default=4566, metadata=_setting("AWS_PORT", _port, "4566", "Port of the local AWS endpoint (moto).")
    )
    api_port: int = field(
        default=3000,
        metadata=_setting("API_PORT", _port, "3000", "Port of the REST API (a second API gets the next port)."),
    )
    xray_port: int = field(
        default=2000, metadata=_setting("XRAY_PORT", _port, "2000", "UDP port of the local X-Ray daemon.")
    )
    state_dir: Path = field(
        default=ROOT / ".local",
        metadata=_setting(
            "STATE_DIR", _path, "`.local/`",
            "Where a running stack keeps its outputs, state, logs and traces (emptied at each start). "
            "Tests point it elsewhere to leave a developer's stack alone.",
        ),
    )  # fmt: skip
    stack_name: str = field(
        default="order-saga-local",
        metadata=_setting("STACK_NAME", _name, "order-saga-local", "Name of the local CloudFormation stack."),
    )
    concurrent_executions: int = field(
        default=4,
        metadata=_setting(
            "CONCURRENT_EXECUTIONS", _whole_number, "4",
            "Executions the local API runs at once (the rest wait before theirs starts), and the execution "
            "environments kept warm per saga function for them. A local bound: AWS has none.",
        ),
    )  # fmt: skip
    lambda_concurrency_quota: int = field(
        default=1000,
        metadata=_setting(
            "LAMBDA_CONCURRENCY_QUOTA", _whole_number, "1000",
            "The emulated account's Lambda concurrency quota (a new account's may be 10).",
        ),
    )  # fmt: skip
    bootstrap: bool = field(
        default=True,
        metadata=_setting(
            "BOOTSTRAP", _switch("1", "0"), "1",
            "`0` skips bootstrap/account.yaml (API Gateway's CloudWatch Logs role): the stack then fails as it "
            "would on an account never bootstrapped.",
        ),
    )  # fmt: skip
    iam_enforcement: bool = field(
        default=True,
        metadata=_setting(
            "IAM_ENFORCEMENT", _switch("on", "off"), "on",
            "`off` stops the endpoint checking each request's signature and action against the caller's "
            "policies (every principal still signs with its role's session).",
        ),
    )  # fmt: skip
    faults_file: Path | None = field(
        default=None,
        metadata=_setting(
            "FAULTS_FILE", _path, "unset (no faults)",
            "A JSON file of fault rules (saga_local/faults.py): crashes, timeouts and errors injected into "
            "functions, AWS calls and executions. Re-read when it changes.",
        ),
    )  # fmt: skip
    timeout_scale: float = field(
        default=1.0,
        metadata=_setting(
            "TIMEOUT_SCALE", _factor(zero_allowed=False), "1",
            "Multiplies every Task's and the state machine's TimeoutSeconds, and each function's timeout: "
            "more time when every function shares one machine. The ASL is untouched.",
        ),
    )  # fmt: skip
    retry_scale: float = field(
        default=1.0,
        metadata=_setting(
            "RETRY_SCALE", _factor(zero_allowed=True), "1",
            "Multiplies every Retry wait of the state machine (tests use 0.01 so retried paths run in "
            "milliseconds).",
        ),
    )  # fmt: skip
    schedule_seconds: float | None = field(
        default=None,
        metadata=_setting(
            "SCHEDULE_SECONDS", _seconds, "unset (the template's rate)",
            "Period of every schedule of the template (the recovery sweep), in seconds.",
        ),
    )  # fmt: skip
    xray_address: str | None = field(
        default=None,
        metadata=_setting(
            "XRAY_ADDRESS", _address, "unset (the stack's own daemon)",
            "HOST:PORT of the X-Ray daemon the functions send their segments to.",
        ),
    )  # fmt: skip
    function_env: Mapping[str, str] = field(
        default_factory=dict,
        metadata={
            "variable": f"{FUNCTION_ENV_PREFIX}<NAME>",
            "default": "unset",
            "doc": "Gives every function whose template declares the variable `<NAME>` this value instead, e.g. "
            f"`{FUNCTION_ENV_PREFIX}STUCK_AFTER_SECONDS=5` shortens the recovery sweep's window.",
        },
    )
    host: str = HOST
    seed_file: Path = ROOT / "data" / "inventory-seed.json"

    @property
    def outputs_file(self) -> Path:
        return self.state_dir / "outputs.json"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "stack.json"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def sam_env_file(self) -> Path:
        """For `sam local invoke FUNCTION --env-vars .local/sam-env.json --docker-network host`."""
        return self.state_dir / "sam-env.json"

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.aws_port}"


def load(environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """The settings from `environ` (os.environ by default), validated; `overrides` (command-line options) win."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in fields(Config):
        parse = setting.metadata.get("parse")
        if parse is None:
            continue
        variable = setting.metadata["variable"]
        text = environ.get(variable)
        if text is not None and text != "":
            values[setting.name] = parse(variable, text)
    values["function_env"] = {
        name.removeprefix(FUNCTION_ENV_PREFIX): value
        for name, value in environ.items()
        if name.startswith(FUNCTION_ENV_PREFIX) and name != FUNCTION_ENV_PREFIX
    }
    return replace(Config(**values), **overrides)


def variable(name: str) -> str:
    """The environment variable of Config field `name`, e.g. variable("api_port") == "SAGA_LOCAL_API_PORT"."""
    return str(next(f for f in fields(Config) if f.name == name).metadata["variable"])


def markdown_table() -> str:
    """docs/configuration.md: every setting, its default and what it does."""
    lines = [
        "# Configuration of the local stack",
        "",
        "`saga-local up` (`make local`), the tests' stacks and the tools read these environment variables once, in",
        "saga_local/core/config.py. An empty variable counts as unset; a bad value stops the stack with a message",
        "naming it. Generated from config.py (`python -m saga_local.core.config > docs/configuration.md`); a test",
        "fails when the two differ.",
        "",
        "| Variable | Default | What it does |",
        "| --- | --- | --- |",
    ]
    for setting in fields(Config):
        if "variable" in setting.metadata:
            meta = setting.metadata
            lines.append(f"| `{meta['variable']}` | {meta['default']} | {meta['doc']} |")
    lines += [
        "",
        "Step Functions Local's own variable `SFN_MOCK_CONFIG` (the path of a mock configuration file) is read",
        "under its usual name by saga_local/stepfunctions/mock_config.py.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
