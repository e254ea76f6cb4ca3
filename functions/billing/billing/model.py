"""Invoices and double-entry ledger entries. Money in integer minor units.

A sale debits `cash` (the money came in) and credits `revenue` (it was earned); its reversal swaps
the two, so an order that was sold and voided nets to zero on every account.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from saga_common.dynamodb import Item
from saga_common.ids import derived_id

from billing.errors import UnbalancedEntryError

CASH = "cash"
REVENUE = "revenue"


class InvoiceStatus(StrEnum):
    ISSUED = "ISSUED"
    VOID = "VOID"


class EntryKind(StrEnum):
    SALE = "SALE"
    REVERSAL = "REVERSAL"


@dataclass(frozen=True)
class InvoiceLine:
    sku: str
    name: str
    quantity: int
    unit_price: int
    line_total: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "name": self.name,
            "quantity": self.quantity,
            "unitPrice": self.unit_price,
            "lineTotal": self.line_total,
        }

    @classmethod
    def from_dict(cls, line: dict[str, Any]) -> "InvoiceLine":
        return cls(line["sku"], line["name"], line["quantity"], line["unitPrice"], line["lineTotal"])


@dataclass(frozen=True)
class Posting:
    account: str
    debit: int
    credit: int

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.account, "debit": self.debit, "credit": self.credit}

    @classmethod
    def from_dict(cls, posting: dict[str, Any]) -> "Posting":
        return cls(posting["account"], posting["debit"], posting["credit"])


@dataclass(frozen=True)
class LedgerEntry:
    order_id: str
    kind: EntryKind
    postings: tuple[Posting, ...]
    currency: str
    payment_id: str
    entry_id: str = field(init=False)

    def __post_init__(self) -> None:
        # Enforced on every entry built or read back, so an unbalanced one can never be written or used.
        if any(p.debit < 0 or p.credit < 0 for p in self.postings):
            raise UnbalancedEntryError(f"negative amount in the {self.kind} entry of order {self.order_id}")
        if sum(p.debit for p in self.postings) != sum(p.credit for p in self.postings):
            raise UnbalancedEntryError(f"the {self.kind} entry of order {self.order_id} does not balance")
        object.__setattr__(self, "entry_id", derived_id("le", self.order_id, self.kind.value))

    @classmethod
    def sale(cls, order_id: str, amount: int, currency: str, payment_id: str) -> "LedgerEntry":
        postings = (Posting(CASH, debit=amount, credit=0), Posting(REVENUE, debit=0, credit=amount))
        return cls(order_id, EntryKind.SALE, postings, currency, payment_id)

    def reversal(self) -> "LedgerEntry":
        """The entry that undoes this one: every posting on the opposite side."""
        opposite = tuple(Posting(p.account, debit=p.credit, credit=p.debit) for p in self.postings)
        return LedgerEntry(self.order_id, EntryKind.REVERSAL, opposite, self.currency, self.payment_id)

    def to_dict(self) -> dict[str, Any]:
        """The entry's part of the BillOrder step's answer (docs/saga-steps.md)."""
        return {"entryId": self.entry_id, "postings": [p.to_dict() for p in self.postings]}

    def to_item(self) -> Item:
        """The entry's attributes, a map in its invoice's item (the repository adds when it was posted)."""
        return {
            "orderId": self.order_id,
            "entryId": self.entry_id,
            "kind": self.kind.value,
            "postings": [p.to_dict() for p in self.postings],
            "currency": self.currency,
            "paymentId": self.payment_id,
        }

    @classmethod
    def from_item(cls, item: Item) -> "LedgerEntry":
        return cls(
            order_id=item["orderId"],
            kind=EntryKind(item["kind"]),
            postings=tuple(Posting.from_dict(p) for p in item["postings"]),
            currency=item["currency"],
            payment_id=item["paymentId"],
        )


@dataclass(frozen=True)
class Invoice:
    """An order's invoice with its ledger entries: the sale posted with it, and the reversal its void posts.

    Issued with its sale in one write, so neither exists without the other. A VOID invoice without a payment
    is a fence: the order was voided before anything was issued, and a late BillOrder must not bill it."""

    order_id: str
    status: InvoiceStatus
    customer_id: str | None = None
    lines: tuple[InvoiceLine, ...] = ()
    total: int = 0
    currency: str | None = None
    payment_id: str | None = None
    sale: LedgerEntry | None = None
    reversal: LedgerEntry | None = None

    @classmethod
    def issue(
        cls, order_id: str, customer_id: str, lines: tuple[InvoiceLine, ...], total: int, currency: str, payment_id: str
    ) -> "Invoice":
        """An ISSUED invoice and the sale of its total to the ledger."""
        sale = LedgerEntry.sale(order_id, total, currency, payment_id)
        return cls(order_id, InvoiceStatus.ISSUED, customer_id, lines, total, currency, payment_id, sale)

    @property
    def invoice_id(self) -> str:
        return derived_id("inv", self.order_id)

    @property
    def is_fence(self) -> bool:
        return self.payment_id is None

    def to_dict(self) -> dict[str, Any]:
        """The BillOrder step's answer (docs/saga-steps.md): the invoice and its sale entry."""
        sale = self.sale.to_dict() if self.sale else {}
        return {"invoiceId": self.invoice_id, "status": self.status.value, **sale}

    def to_item(self) -> Item:
        """The invoice's attributes in the billing table, its entries as maps (the repository adds the key and
        times)."""
        return {
            "orderId": self.order_id,
            "invoiceId": self.invoice_id,
            "status": self.status.value,
            "customerId": self.customer_id,
            "lines": [line.to_dict() for line in self.lines],
            "total": self.total,
            "currency": self.currency,
            "paymentId": self.payment_id,
            **({"sale": self.sale.to_item()} if self.sale else {}),
            **({"reversal": self.reversal.to_item()} if self.reversal else {}),
        }

    @classmethod
    def from_item(cls, item: Item) -> "Invoice":
        return cls(
            order_id=item["orderId"],
            status=InvoiceStatus(item["status"]),
            customer_id=item.get("customerId"),
            lines=tuple(InvoiceLine.from_dict(line) for line in item.get("lines", [])),
            total=item.get("total", 0),
            currency=item.get("currency"),
            payment_id=item.get("paymentId"),
            sale=LedgerEntry.from_item(item["sale"]) if item.get("sale") else None,
            reversal=LedgerEntry.from_item(item["reversal"]) if item.get("reversal") else None,
        )
