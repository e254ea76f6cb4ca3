"""Inventory service: prices orders from its catalog and reserves stock, all lines or none."""
