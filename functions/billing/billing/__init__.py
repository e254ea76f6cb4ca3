"""Billing service: the order's invoice and its double-entry ledger."""
