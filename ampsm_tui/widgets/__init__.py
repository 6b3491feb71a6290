"""Reusable widgets of the TUI. Each reads data pushed into it and posts messages up."""
