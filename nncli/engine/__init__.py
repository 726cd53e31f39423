"""The NumPy engine: layers, activations, initializers, losses, optimizers, schedules.

Nothing here imports pydantic, yaml, rich or typer; everything can be tested with literal arrays.
"""
