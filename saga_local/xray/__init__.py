"""X-Ray: a local daemon, and segments for the services that moto leaves out of traces.

`segments` is what the emulated services (API, state machine, Lambda runtime) use to take part in a trace
(trace ids and headers, documents sent over UDP as the SDKs send them); `daemon` collects them on UDP 2000,
keeps traces in .local/traces and forwards them to moto; `propagation` makes Step Functions executions and
their Task states part of the caller's trace.

How it differs from AWS: no sampling rules (every trace kept), no service map, search by annotation only;
moto's own X-Ray answers with durations in whole seconds and without FilterExpression.
"""
