"""Frontdesk's tests; a package so that test files in different folders may share a name."""
