"""Benchmarks of the local stack and of the functions: `python -m benchmarks.local_saga` (start-up time and saga
latency through the local API), `benchmarks.cost` (what an order costs on AWS, from a local run's real calls),
`benchmarks.cold_start` (each handler's init time), `benchmarks.order_units` (the capacity units one order uses)."""
