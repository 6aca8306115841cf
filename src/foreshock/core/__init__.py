"""The analysis core: pure functions from SQL text and settings to frozen dataclasses.

Nothing in here touches files, sockets, subprocesses or the terminal (import-linter enforces it).
"""
