"""Orders service: owns the orders table, whose stream is the saga's transactional outbox."""
