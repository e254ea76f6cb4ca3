"""The order saga on one machine: the template's resources on an embedded local AWS (moto).

One subpackage per emulated service, each saying what it emulates and how it differs from AWS:
cloudformation/ (the template provisioned), awslambda/ (the code run without Docker, stream mappings),
stepfunctions/ (moto's interpreter, StartSyncExecution, mocks), apigateway/ (the REST stage), dynamodb/,
xray/ and cost/ (what AWS would bill). What ties them together stays here: `stack` (LocalAws, what
`python -m saga_local up` starts), `launch` (a stack in a subprocess, for tests and tools), `aws_calls`
(the hook that sees every AWS call), `faults` (injected across services), `routing` (the moto server's
dispatch), and `patches`, the one list of changes made to moto (`python -m saga_local patches`).
"""
