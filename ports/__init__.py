"""Abstract interfaces the domain needs. Nothing here imports domain/ or adapters/."""
