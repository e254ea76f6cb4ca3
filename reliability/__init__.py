"""Reliability checks of the order saga: bad input (fuzz), chaos."""
