"""Kernel-level isolation of the processes that run student code.

``policy`` decides what a sandboxed process may read and write and probes which mechanisms
this machine offers; ``landlock``, ``namespaces`` and ``limits`` apply them inside a child;
``launch`` wraps a whole command (nbgrader's kernel) in the same sandbox, ``relay`` carries
its ports into its private network; ``listener_dir`` keeps the fork server's socket out of
every child's reach.
"""
