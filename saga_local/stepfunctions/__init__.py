"""Step Functions: moto's ASL interpreter (ported from LocalStack) running the state machine, patched.

What this package adds: StartSyncExecution (`sync_execution`), which moto lacks; Parallel branches failing
with `States.` errors (`errors`); definite JSONPaths giving one value (`json_path`); the definition parsed
once (`parse_once`); Retry waits and TimeoutSeconds scaled by local settings (`timing`); Step Functions
Local's mock configuration (`mock_config`); and the saga run in one process without a server (`inprocess`).
Reading the ASL file itself (its states, its worst case) is statemachine.asl's.

How it differs from AWS: JSONPath only (moto cannot run JSONata); Express executions are not logged
(the cost meter reads their history instead); execution data stays in memory; a Task timeout leaves the
handler running; no service quotas; X-Ray segments are made by saga_local.xray.propagation.
"""
