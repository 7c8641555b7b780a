"""Satisfaction and performance metrics: SQL aggregates for the console and Prometheus."""
