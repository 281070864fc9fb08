"""Memory tiers: core blocks, recall (messages) and archival (passages)."""
