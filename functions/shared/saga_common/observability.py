"""Powertools Logger, Tracer and Metrics, configured once from the environment.

POWERTOOLS_SERVICE_NAME names the service, POWERTOOLS_METRICS_NAMESPACE the metrics namespace;
both come from template.yaml.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
