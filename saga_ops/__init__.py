"""`saga-ops`: the operator's tools for a deployed stack (`--stack NAME`, boto3's usual credentials and region), or
for the running local stack (`--local`): stuck and failed orders (`ops`: list, retry, resolve), the account checks
before a deploy (`preflight`) and the capacity model (`capacity`). `cli` is the command line."""
