"""Storage adapters implementing ports.storage."""
