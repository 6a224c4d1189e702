"""The HTTP/1.1 transport: a sans-I/O parser and serializer, a thin asyncio
layer that moves bytes, and the routes that map requests to the domain."""
