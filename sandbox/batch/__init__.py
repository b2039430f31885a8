"""Many scenario runs and their results store."""
