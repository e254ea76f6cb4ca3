"""Outbox relay: publishes the orders table's stream, one event per order state change, to SNS FIFO."""
