"""One module per course topic; each defines ``TOPIC`` and ``TASKS``."""
