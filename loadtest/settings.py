"""What a load test run is pointed at and asked to prove, resolved without Locust (so tests import it
without gevent's monkey-patching): the API URL and key, the order mix, the pass/fail thresholds."""

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
URL_ENV, KEY_ENV = "ORDER_API_URL", "ORDER_API_KEY"
SCENARIOS = ("confirmed", "out_of_stock", "declined", "replayed")
DEFAULT_MIX = "confirmed=80,out_of_stock=8,declined=7,replayed=5"


class ConfigError(ValueError):
    """A setting the run cannot use; the message names it. Printed without a stack trace."""


@dataclass(frozen=True)
class Target:
    url: str  # base URL of the stage, e.g. http://127.0.0.1:3000/dev
    api_key: str
    url_source: str  # where each came from, printed at start so a wrong target is obvious
    key_source: str


def default_outputs_file(environ: Mapping[str, str] = os.environ) -> Path:
    """The running local stack's outputs, where `saga-local up` writes them (SAGA_LOCAL_STATE_DIR)."""
    from saga_local.core import config

    return config.load(environ).outputs_file


def resolve_target(cli_url: str | None, cli_key: str | None, environ: Mapping[str, str], outputs_file: Path) -> Target:
    """Each of the URL and the key, first found of: the command line (--host, --api-key), the environment
    (ORDER_API_URL, ORDER_API_KEY), the local stack's outputs file (LocalApiUrl, ApiKey)."""
    outputs: dict[str, object] | None = None

    def from_outputs(field: str) -> str | None:
        nonlocal outputs
        if outputs is None:
            outputs = _read_outputs(outputs_file)
        value = outputs.get(field)
        return value if isinstance(value, str) and value else None

    def pick(cli: str | None, cli_name: str, env_name: str, field: str) -> tuple[str, str]:
        if cli:
            return cli, cli_name
        if environ.get(env_name):
            return environ[env_name], env_name
        value = from_outputs(field)
        if value:
            return value, f"{outputs_file} ({field})"
        raise ConfigError(
            f"no {'API URL' if field == 'LocalApiUrl' else 'API key'}: pass {cli_name}, set {env_name}, "
            f"or start the local stack (make local) so that {outputs_file} holds {field}"
        )

    url, url_source = pick(cli_url, "--host", URL_ENV, "LocalApiUrl")
    key, key_source = pick(cli_key, "--api-key", KEY_ENV, "ApiKey")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"API URL from {url_source} must be http(s)://host[:port]/stage, got {url!r}")
    return Target(url.rstrip("/"), key, url_source, key_source)


def _read_outputs(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    try:
        outputs = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: not readable as JSON ({error})") from error
    if not isinstance(outputs, dict):
        raise ConfigError(f"{path}: expected a JSON object of stack outputs")
    return outputs


def parse_mix(text: str) -> dict[str, float]:
    """`confirmed=80,out_of_stock=8,declined=7,replayed=5` -> relative weights (any scale; unnamed = 0)."""
    weights = dict.fromkeys(SCENARIOS, 0.0)
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in weights:
            raise ConfigError(f"--mix: {part!r} is not <scenario>=<weight> with a scenario of {', '.join(SCENARIOS)}")
        try:
            weight = float(value)
        except ValueError:
            raise ConfigError(f"--mix: the weight of {name} must be a number, got {value.strip()!r}") from None
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"--mix: the weight of {name} must be zero or more, got {value.strip()!r}")
        weights[name] = weight
    if sum(weights.values()) <= 0:
        raise ConfigError(f"--mix: at least one scenario needs a positive weight (e.g. {DEFAULT_MIX})")
    return weights


def positive(name: str, value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {value}")
    return value


@dataclass(frozen=True)
class Thresholds:
    p95_ms: float | None  # None: not checked
    max_error_rate: float | None  # share of requests whose outcome was not the expected one, 0..1
    min_rps: float | None  # completed requests per second over the run

    def violations(self, p95_ms: float, error_rate: float, rps: float, requests: int) -> list[str]:
        """Every threshold the run missed, worded for the console; empty when it passed."""
        if requests == 0:
            return ["no request completed"]
        missed = []
        if self.p95_ms is not None and p95_ms > self.p95_ms:
            missed.append(f"p95 {p95_ms:.0f} ms > {self.p95_ms:g} ms (--p95-ms)")
        if self.max_error_rate is not None and error_rate > self.max_error_rate:
            missed.append(f"error rate {error_rate:.2%} > {self.max_error_rate:.2%} (--max-error-rate)")
        if self.min_rps is not None and rps < self.min_rps:
            missed.append(f"{rps:.2f} requests/s < {self.min_rps:g} (--min-rps)")
        return missed


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0..1) of `values`; 0 when there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]
