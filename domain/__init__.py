"""What the service does: upload, check, download. Pure Python: no sockets, no paths."""
