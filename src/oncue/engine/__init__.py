"""Drivers that execute what the ASL interpreter commands."""
