"""The SAM CLI environment-variables file (`sam local invoke --env-vars`) for the running local stack.

`{"<FunctionLogicalId>": {"VAR": "value", ...}}`: each function's template Environment resolved to the local
stack's physical names, exactly as the local workers get it, plus the local endpoint and region. With
`--docker-network host` a container reaches the endpoint on 127.0.0.1.

SAM CLI passes a container only the variables the template declares for the function (which is why the
template declares AWS_ENDPOINT_URL, empty on AWS), and its own AWS_* set with credentials from the caller's
session or dummy ones. No credentials are written here: the local endpoint takes any.
"""

from collections.abc import Iterable

from saga_local.cloudformation.specs import FunctionSpec


def sam_env_vars(functions: Iterable[FunctionSpec], endpoint_url: str, region: str) -> dict[str, dict[str, str]]:
    local = {"AWS_ENDPOINT_URL": endpoint_url, "AWS_REGION": region, "AWS_DEFAULT_REGION": region}
    return {spec.logical_id: {**spec.environment, **local} for spec in functions}
