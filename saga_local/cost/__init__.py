"""What AWS would bill for a local run, counted from the real calls (no AWS billing is emulated).

`units` is the arithmetic (item sizes and capacity units as DynamoDB counts them, 64 KB chunks, GB-seconds,
log bytes); `meter` counts them from every call moto serves and from the stack's logs and traces; `prices`
reads a price list and turns usage into a cost per million orders.

How it differs from AWS: free tiers, data transfer and storage are not counted; X-Ray sampling is applied
by the caller; Lambda durations are this machine's, not Lambda's.
"""
