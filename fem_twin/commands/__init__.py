"""Sub-commands of ``fem-twin``; each module has ``register(subparsers)``."""
