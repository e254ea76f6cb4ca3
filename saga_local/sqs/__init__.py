"""SQS as moto serves it: the audit FIFO queue and the dead-letter queues. One patch (`approximate_counts`): a
queue's approximate message counts computed with one clock reading instead of one per message."""
