"""Versioned schema migrations. Append only: never edit a released step.

Numbers are reserved per area so parallel work does not collide:
1-2 foundation, 3 batches, 4 bench, 5+ whoever comes next.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "initial schema",
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            prompt TEXT NOT NULL DEFAULT '',
            repo_path TEXT NOT NULL,
            base_branch TEXT NOT NULL,
            branch TEXT NOT NULL DEFAULT '',
            worktree_path TEXT NOT NULL DEFAULT '',
            agent TEXT NOT NULL DEFAULT 'amp',
            agent_cmd TEXT,
            model TEXT,
            script TEXT,
            timeout_s REAL,
            status TEXT NOT NULL DEFAULT 'idle',
            thread_id TEXT,
            last_test_exit INTEGER,
            last_error TEXT,
            batch_item_id TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX idx_sessions_created ON sessions(created_at DESC);
        CREATE INDEX idx_sessions_status ON sessions(status);

        CREATE TABLE iterations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            prompt TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'running',
            started_at TEXT NOT NULL,
            ended_at TEXT,
            exit_code INTEGER,
            commit_sha TEXT,
            files_changed INTEGER NOT NULL DEFAULT 0,
            lines_added INTEGER NOT NULL DEFAULT 0,
            lines_removed INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            model TEXT,
            agent TEXT,
            thread_id TEXT,
            summary TEXT,
            test_exit_code INTEGER,
            test_log TEXT,
            test_duration_ms INTEGER,
            raw_log_path TEXT,
            error TEXT,
            UNIQUE(session_id, number)
        );
        CREATE INDEX idx_iterations_started ON iterations(started_at DESC);

        CREATE TABLE tool_calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            iteration_id INTEGER NOT NULL REFERENCES iterations(id) ON DELETE CASCADE,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            tool_use_id TEXT,
            name TEXT NOT NULL,
            args_summary TEXT NOT NULL DEFAULT '',
            started_at TEXT NOT NULL,
            duration_ms INTEGER,
            ok INTEGER
        );
        CREATE INDEX idx_tool_calls_iteration ON tool_calls(iteration_id);

        CREATE TABLE threads (
            id TEXT NOT NULL,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            agent TEXT NOT NULL,
            turns INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (session_id, id)
        );

        CREATE TABLE batch_runs (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            file_path TEXT,
            status TEXT NOT NULL DEFAULT 'pending',
            concurrency INTEGER NOT NULL DEFAULT 1,
            definition TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            started_at TEXT,
            ended_at TEXT
        );

        CREATE TABLE batch_items (
            id TEXT PRIMARY KEY,
            batch_id TEXT NOT NULL REFERENCES batch_runs(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            name TEXT NOT NULL,
            repo_path TEXT NOT NULL,
            base_branch TEXT NOT NULL,
            prompt TEXT NOT NULL,
            script TEXT,
            model TEXT,
            agent TEXT NOT NULL DEFAULT 'amp',
            agent_cmd TEXT,
            timeout_s REAL,
            status TEXT NOT NULL DEFAULT 'pending',
            session_id TEXT REFERENCES sessions(id) ON DELETE SET NULL,
            error TEXT,
            started_at TEXT,
            ended_at TEXT
        );
        CREATE INDEX idx_batch_items_batch ON batch_items(batch_id, ordinal);
        """,
    ),
    (
        2,
        "process liveness, per-session webhooks, raw line counts, batch retries",
        """
        ALTER TABLE sessions ADD COLUMN pid INTEGER;
        ALTER TABLE sessions ADD COLUMN pid_started_at REAL;
        ALTER TABLE sessions ADD COLUMN notify_webhook TEXT;
        ALTER TABLE iterations ADD COLUMN raw_lines INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE batch_runs ADD COLUMN pid INTEGER;
        ALTER TABLE batch_items ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX idx_iterations_session ON iterations(session_id, number);
        CREATE INDEX idx_tool_calls_session ON tool_calls(session_id);
        """,
    ),
    (
        3,
        "batch item retries, batch owner start time, telemetry indexes",
        """
        ALTER TABLE batch_items ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE batch_runs ADD COLUMN pid_started_at REAL;
        CREATE INDEX idx_sessions_batch_item ON sessions(batch_item_id);
        CREATE INDEX idx_iterations_model ON iterations(model, started_at);
        CREATE INDEX idx_tool_calls_started ON tool_calls(started_at);
        """,
    ),
    (
        4,
        "benchmark runs and per-instance grades",
        """
        CREATE TABLE bench_runs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL DEFAULT 'swebench',
            mode TEXT NOT NULL DEFAULT 'agents',
            dataset_path TEXT,
            report_dir TEXT NOT NULL DEFAULT '.',
            definition TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL DEFAULT 'pending',
            pid INTEGER,
            max_cost REAL,
            created_at TEXT NOT NULL,
            started_at TEXT,
            ended_at TEXT
        );
        CREATE INDEX idx_bench_runs_created ON bench_runs(created_at DESC);

        CREATE TABLE bench_instances (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES bench_runs(id) ON DELETE CASCADE,
            instance_id TEXT NOT NULL,
            model_name_or_path TEXT NOT NULL,
            agent TEXT,
            model TEXT,
            ordinal INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'pending',
            reason TEXT,
            session_id TEXT REFERENCES sessions(id) ON DELETE SET NULL,
            iteration_id INTEGER REFERENCES iterations(id) ON DELETE SET NULL,
            model_patch TEXT,
            patch_applied INTEGER,
            f2p_passed INTEGER,
            f2p_total INTEGER,
            p2p_passed INTEGER,
            p2p_total INTEGER,
            agent_s REAL,
            eval_s REAL,
            duration_s REAL,
            iterations INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            report_path TEXT,
            started_at TEXT,
            ended_at TEXT,
            UNIQUE(run_id, model_name_or_path, instance_id)
        );
        CREATE INDEX idx_bench_instances_run ON bench_instances(run_id, ordinal);
        CREATE INDEX idx_bench_instances_session ON bench_instances(session_id);
        """,
    ),
    (
        5,
        "the agent's own pid and start time (orphaned agents are found and stopped)",
        """
        ALTER TABLE sessions ADD COLUMN agent_pid INTEGER;
        ALTER TABLE sessions ADD COLUMN agent_started_at REAL;
        """,
    ),
    (
        6,
        "per-session port blocks and setup scripts (issue 18)",
        """
        CREATE TABLE port_blocks (
            session_id TEXT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
            first_port INTEGER NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            allocated_at TEXT NOT NULL
        );
        ALTER TABLE sessions ADD COLUMN setup TEXT;
        ALTER TABLE batch_items ADD COLUMN setup TEXT;
        """,
    ),
    (
        7,
        "the node that ran a batch item (the Ray executor, issue 20)",
        """
        ALTER TABLE batch_items ADD COLUMN node_id TEXT;
        ALTER TABLE batch_items ADD COLUMN node_host TEXT;
        """,
    ),
]

LATEST = max(v for v, _, _ in MIGRATIONS)
