"""CloudFormation: the SAM template deployed on moto, as `sam deploy` would deploy it.

`template` reads template.yaml (and its includes); `provision` translates it with the SAM translator and
creates each resource by type on the local endpoint; `intrinsics` resolves Ref, Fn::GetAtt, Fn::Sub and the
rest, for provisioning and for the API emulator's OpenAPI document alike; `specs` are what the emulators
take from the result (functions, event source mappings, REST APIs).

How it differs from AWS: no change sets, rollback or drift; physical names are `<stack>-<LogicalId>`;
resources moto cannot create are skipped and listed; email subscriptions and alarm actions are not
exercised (IAM is: saga_local.iam).
"""
