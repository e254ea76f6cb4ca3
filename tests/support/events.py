"""The sample events of events/, as `sam local invoke -e events/<name>` sends them."""

import json
from typing import Any

from tests.support.paths import ROOT


def read_event(name: str) -> dict[str, Any]:
    """A sample event from events/, as `sam local invoke -e events/<name>` would send it."""
    return json.loads((ROOT / "events" / name).read_text(encoding="utf-8"))
