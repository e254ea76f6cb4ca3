"""Write the CloudFormation that `sam deploy` would submit for template.yaml (SAM transform applied, connectors
and policy templates expanded), so checkov also checks what SAM generates: the functions' IAM roles and
policies, the API stage, the Lambda functions themselves.

SAM does not copy a resource's `Metadata` onto the resources it generates, so the checkov skips written (with
their reasons) on a SAM resource in template.yaml are carried to the resources generated from it. A check only
applies to its own resource type, so a skip cannot silence another kind of resource.

    python -m tests.security.translated_template OUT.json
"""

import json
import logging
import sys
from pathlib import Path
from typing import Any

from saga_local.cloudformation import template as cfn


def _checkov_skips(resource: dict[str, Any]) -> list[dict[str, str]]:
    return list(((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or [])


def translated_with_skips(sam: dict[str, Any]) -> dict[str, Any]:
    translated = cfn.translate(sam)
    resources = translated["Resources"]
    for sam_id, sam_resource in sam["Resources"].items():
        skips = _checkov_skips(sam_resource)
        if not sam_resource["Type"].startswith("AWS::Serverless::") or not skips:
            continue
        # What SAM generated from sam_id: the resource of the same id (the function, the RestApi) and the
        # new ones named after it (OrdersApiStage, InventoryFunctionRole, ...).
        generated = [
            rid for rid in resources if rid == sam_id or (rid.startswith(sam_id) and rid not in sam["Resources"])
        ]
        for rid in generated:
            metadata = resources[rid].setdefault("Metadata", {})
            existing = _checkov_skips(resources[rid])
            metadata["checkov"] = {"skip": existing + [s for s in skips if s not in existing]}
    return translated


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.security.translated_template OUT.json", file=sys.stderr)
        return 2
    logging.getLogger("samtranslator").setLevel(logging.ERROR)  # its feature-toggle notice is noise here
    Path(argv[0]).write_text(json.dumps(translated_with_skips(cfn.load()), indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
