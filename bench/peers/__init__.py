"""The servers ours is measured against. Run as separate processes by
bench/run.py; never imported by the service."""
