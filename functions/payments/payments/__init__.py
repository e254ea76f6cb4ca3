"""Payments service: charges and refunds orders through a payment provider port."""
