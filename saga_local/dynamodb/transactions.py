"""TransactWriteItems without copying whole tables.

moto deep-copies every table a transaction touches, to roll back on failure: O(table) per transaction, so a
long run slows down as the tables grow. This copies the items the transaction touches instead; what moto
answers does not change (tests/local/dynamodb checks a cancelled transaction leaves no trace).
"""

import copy
import threading
from collections.abc import Sequence
from functools import wraps
from typing import Any

from saga_local.core.patching import Change, Kind, Patch, Replace
from saga_local.dynamodb.request_lock import SERIALIZE_REQUESTS

_transaction = threading.local()  # set while a TransactWriteItems runs (DynamoDB requests run one at a time)
# (table, hash key, range key, the item before, the stream's length before)
_Snapshot = tuple[Any, Any, Any, Any, int]


class _TablesNotCopied:
    """`copy` as moto's DynamoDB backend module sees it: during a transaction, its per-table backup is the
    table itself (its "rollback" assigns the same table back), and the items are restored by `_restore`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if isinstance(value, Table) and getattr(_transaction, "active", False):
            return value
        return copy.deepcopy(value, memo)


def _snapshot(backend: Any, items: list[dict[str, Any]]) -> list[_Snapshot]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    taken = []
    for item in items:
        operation: dict[str, Any] = next(iter(item.values()), {})
        table = backend.tables.get(operation.get("TableName"))
        source = operation.get("Item") if "Item" in operation else operation.get("Key")
        if table is None or not isinstance(source, dict) or table.hash_key_attr not in source:
            continue  # moto rejects it before writing anything
        hash_key = DynamoType(source[table.hash_key_attr])
        range_key = DynamoType(source[table.range_key_attr]) if table.range_key_attr in source else None
        try:
            current = table.get_item(hash_key, range_key)
        except Exception:  # noqa: S112 - a malformed key: moto rejects it before writing anything
            continue
        shard = table.stream_shard
        taken.append((table, hash_key, range_key, copy.deepcopy(current), len(shard.items) if shard else 0))
    return taken


def _restore(taken: list[_Snapshot]) -> None:
    for table, hash_key, range_key, item, stream_length in reversed(taken):
        if range_key is not None:
            if item is None:
                table.items[hash_key].pop(range_key, None)
            else:
                table.items[hash_key][range_key] = item
        elif item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        if table.stream_shard is not None:  # a cancelled transaction leaves no stream record
            del table.stream_shard.items[stream_length:]


def _changes() -> Sequence[Change]:
    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend

    transact = DynamoDBBackend.transact_write_items

    @wraps(transact)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        taken = _snapshot(self, transact_items)
        _transaction.active = True
        try:
            transact(self, transact_items)
        except BaseException:
            _restore(taken)
            raise
        finally:
            _transaction.active = False

    return [
        Replace(dynamodb_models, "copy", _TablesNotCopied()),
        Replace(DynamoDBBackend, "transact_write_items", transact_write_items),
    ]


COPY_ONLY_TRANSACTED_ITEMS = Patch(
    name="dynamodb-transaction-copy",
    kind=Kind.SPEED,
    replaces="moto.dynamodb.models.DynamoDBBackend.transact_write_items: deep-copies every table it touches",
    because="a transaction's cost must not grow with the table; the items it touches are all a rollback needs",
    changes=_changes,
    requires=(SERIALIZE_REQUESTS,),  # a rollback must not interleave with another request's writes
)
