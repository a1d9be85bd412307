"""Performance benchmarks: programs that print a table and write JSON (never tests)."""
