"""The order saga on one machine: the template's resources on an embedded local AWS (moto). `saga-local up`.

One subpackage per emulated service, each saying what it emulates and how it differs from AWS:
cloudformation/ (the template provisioned), awslambda/ (the code run without Docker, stream mappings),
stepfunctions/ (moto's interpreter, StartSyncExecution, mocks), apigateway/ (the REST stage), dynamodb/, iam/,
sqs/, xray/, scheduler/ (EventBridge schedules) and cost/ (what AWS would bill). core/ is what they all build on:
`config` (every SAGA_LOCAL_* setting, read in one place), `patches` (the one list of changes made to moto),
`aws_calls` (the hook that sees every AWS call) and `routing` (the moto server's dispatch). cli/ is the
`saga-local` command.

The modules left at the top tie the services together, so no service package owns them: `stack` (LocalAws, the
local AWS that `saga-local up` starts, and how a running one is found), `launch` (a stack in a subprocess, for
tests and tools), `faults` (faults injected across Lambda, AWS calls and executions), and `signing` (SigV4 for the
API's callers, used by every client: the CLI, tests, Locust, the chaos run, the fuzzer).
"""
