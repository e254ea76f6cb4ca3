"""Powertools Logger, Tracer and Metrics, configured once from the environment.

POWERTOOLS_SERVICE_NAME names the service, POWERTOOLS_METRICS_NAMESPACE the metrics namespace;
both come from template.yaml.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
# The X-Ray SDK patches botocore (a subsegment per AWS call: DynamoDB, SNS) and httplib (the nested subsegment
# of each call's HTTP request), which is what Tracer() patches among what these functions use. Tracer() alone
# runs patch_all, which also imports every other library the SDK can trace when it is installed (requests,
# httpx, sqlite3, SQLAlchemy, ...): init time spent on calls no function makes.
tracer = Tracer(patch_modules=("botocore", "httplib"))
metrics = Metrics()
