"""DynamoDB: moto's own backend, served by the moto server, with two patches.

How it differs from AWS: moto's tables live in memory and are lost when the stack stops; one shard per
stream, whose records are never trimmed; an identical rewrite still emits MODIFY. Its requests run one
at a time here (`request_lock`), since moto alone loses concurrent updates; `transactions` makes a
TransactWriteItems copy the items it touches instead of whole tables. Capacity is not enforced: the
units an order would be billed are counted by saga_local.cost.
"""
