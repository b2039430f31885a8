"""World families: each a self-contained package registered by name."""
