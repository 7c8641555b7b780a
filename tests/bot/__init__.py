"""Test package (distinct module names for same-named test files)."""
