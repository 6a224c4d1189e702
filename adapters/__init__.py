"""Concrete parts plugged into the ports: HTTP transport, storage, throttle, clock, links."""
