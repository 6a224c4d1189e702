"""S3 object storage: SigV4 signing, a pooled HTTP client, and the store built on them."""
