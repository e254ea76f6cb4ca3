"""Lambda: moto keeps the functions' configuration; the code runs here, without Docker.

`invoke_hook` hands every invocation moto makes (Invoke, Step Functions Tasks, SNS) to `runtime`, which runs
each function in warm worker processes of its own (`worker`: the execution environment, with only its code
folder and layers on the path and exactly the template's environment). `streams` is the DynamoDB stream
event source mapping, polled as Lambda polls it (a failed batch, and records sent to the on-failure destination,
are one line each on the terminal of `saga-local up`). `account` is the account's concurrency (quota,
reservations, throttles); `sam_env` writes the `sam local invoke --env-vars` file; `code` imports a function's
own code in this process, for the tools that run it outside an invocation (seeding, `saga-ops`).

How it differs from AWS: memory is not enforced; third-party packages come from the shared venv; no
versions, aliases or provisioned concurrency; a fixed pool of workers per function (extra callers wait
instead of scaling out); stream checkpoints live in memory.
"""
