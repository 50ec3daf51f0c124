"""Registered components; importing this package registers them."""
