"""Load test of the order API (Locust): `make loadtest`, or `locust -f loadtest/locustfile.py` (see README)."""
