"""SQS as moto serves it: the audit FIFO queue and the dead-letter queues (no emulation of our own)."""
