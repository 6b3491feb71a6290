"""The TUI's screens; each decides what happens on its widgets' messages."""
