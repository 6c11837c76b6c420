"""campaign: one awareness article → a September series of daily emails, delivered safely."""
