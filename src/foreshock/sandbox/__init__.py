"""See ../../../README.md and DESIGN.md for this package's role."""
