"""vae-course autograder: grades course notebooks in isolated child processes."""

__all__ = ["__version__"]
__version__ = "0.1.0"
