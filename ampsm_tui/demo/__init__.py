"""The demo: a throw-away workspace (its own config dir, DB and git repo) with sessions driven through
the real engine by a bundled scripted agent that speaks Amp's `--stream-json`.

`workspace.py` builds the folder, `agent.py` is the scripted agent, `scenario.py` drives the sessions.
Nothing here imports Textual; `commands/demo.py` opens the TUI when asked.
"""
