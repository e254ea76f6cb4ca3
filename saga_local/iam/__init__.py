"""IAM on the local endpoint: each principal of the template signs with its own role's STS credentials, and moto
checks each call's action against that role's policies once the stack is provisioned (saga_local.iam.enforcement
for what moto's check is made to do, saga_local.iam.sessions for the credentials)."""
