"""Callers and their orders through the local API: every request signed (SigV4) as one of `make local`'s callers."""

import hashlib
import uuid

from tests.support.stack import LocalStackHandle


def test_an_unsigned_request_is_403_and_starts_nothing(local_stack: LocalStackHandle) -> None:
    key = f"unsigned-{uuid.uuid4()}"
    response, _ = local_stack.place_order(("SKU-1", 1), key=key, caller=None)
    assert response.status == 403
    assert response.json()["detail"].startswith("Missing Authentication Token")
    orders = local_stack.table("OrdersTable").scan(ConsistentRead=True)["Items"]
    assert not [item for item in orders if key in item.get("document", "")]


def test_caller_b_cannot_read_replay_or_collide_with_caller_as_orders(local_stack: LocalStackHandle) -> None:
    key = f"cart-{uuid.uuid4().hex[:8]}-checkout"
    mine, _ = local_stack.place_order(("SKU-1", 1), key=key, caller=0)
    assert mine.status == 201, mine.body
    order_id = mine.json()["orderId"]

    theirs, _ = local_stack.place_order(("SKU-1", 1), key=key, caller=1)  # the same key from another caller
    assert theirs.status == 201, theirs.body
    assert theirs.json()["orderId"] != order_id  # a second order, not the first one's replay

    unknown = local_stack.request("GET", f"/orders/ord_{'0' * 64}", caller=1)
    as_other = local_stack.request("GET", f"/orders/{order_id}", caller=1)
    assert (
        (as_other.status, as_other.json()["code"])
        == (unknown.status, unknown.json()["code"])
        == (404, "ORDER_NOT_FOUND")
    )
    assert local_stack.request("GET", f"/orders/{order_id}", caller=0).json() == mine.json()
    # The role session (Callers[2]) reads nothing of the users' either.
    assert local_stack.request("GET", f"/orders/{order_id}", caller=2).status == 404


def test_an_order_id_computed_from_a_known_key_finds_nothing(local_stack: LocalStackHandle) -> None:
    key = f"predictable-{uuid.uuid4().hex[:8]}"
    placed, _ = local_stack.place_order(("SKU-1", 1), key=key)
    assert placed.status == 201
    guessed = "ord_" + hashlib.sha256(key.encode()).hexdigest()
    assert placed.json()["orderId"] != guessed
    assert local_stack.request("GET", f"/orders/{guessed}").status == 404
    replay, _ = local_stack.place_order(("SKU-1", 1), key=key)
    assert replay.json() == placed.json()  # a replay still finds its order
