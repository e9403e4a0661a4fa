-- qmoe results database, schema version 2 (2: kernel_timings.threads).
--
-- This file is the single source of the schema: CMake embeds it into qmoe_results at build time
-- (framework/results/CMakeLists.txt) and ResultsDb runs it on a fresh database. Table and column
-- names reach disk and notebooks: add, never rename or reuse. A change to an existing database is a
-- new migration step (version N -> N+1) in framework/results/schema.cpp, plus the same change here,
-- plus a bumped version in the INSERT at the end of this file.
--
-- Conventions: times are ISO-8601 UTC text ("2024-05-01T12:00:00Z"); every child row belongs to a
-- run and is deleted with it (ON DELETE CASCADE, foreign keys are switched on per connection).

-- One row: the schema version of this file. A database newer than the build is refused.
CREATE TABLE schema_version (
  version INTEGER NOT NULL  -- schema version; bumped by every migration step
);

-- One row per run (one point of a sweep, or one `qmoe run`).
CREATE TABLE runs (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,  -- run id, local to this file; never reused
  key          TEXT NOT NULL UNIQUE,        -- sha256 of the canonical resolved config + code version
  sweep_id     TEXT NOT NULL DEFAULT '',    -- groups the points of one `qmoe sweep` ('' for single runs)
  experiment   TEXT NOT NULL,               -- experiment.type (registry key)
  method       TEXT NOT NULL DEFAULT '',    -- method.name (registry key, '' if none)
  model        TEXT NOT NULL DEFAULT '',    -- model.name ('' if none)
  config_yaml  TEXT NOT NULL DEFAULT '',    -- the resolved config, canonical YAML
  overrides    TEXT NOT NULL DEFAULT '',    -- the overrides of this point, one per line
  git_commit   TEXT NOT NULL DEFAULT '',    -- `git rev-parse HEAD` of the build ('' if unknown)
  code_version TEXT NOT NULL DEFAULT '',    -- qmoe version + experiment/method versions
  seed         INTEGER NOT NULL DEFAULT 0,  -- the run's seed
  host         TEXT NOT NULL DEFAULT '',    -- host name (and hardware class)
  started_at   TEXT NOT NULL,               -- ISO-8601 UTC, set by BeginRun
  ended_at     TEXT,                        -- ISO-8601 UTC, set by FinishRun; NULL while running
  status       TEXT NOT NULL DEFAULT 'running'
               CHECK (status IN ('running', 'done', 'failed')),  -- running | done | failed
  error        TEXT NOT NULL DEFAULT ''     -- the error message of a failed run
);
CREATE INDEX runs_by_status ON runs(status);
CREATE INDEX runs_by_experiment ON runs(experiment, method, model);
CREATE INDEX runs_by_sweep ON runs(sweep_id);

-- The flattened resolved config of each run ("method.bits" -> "2"), for filtering and pivots.
CREATE TABLE run_params (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,  -- owning run
  key    TEXT NOT NULL,  -- dotted config path, e.g. "method.bits", "data.calibration.samples"
  value  TEXT NOT NULL,  -- the scalar as written in the resolved config (lists as YAML flow text)
  PRIMARY KEY (run_id, key)
);
CREATE INDEX run_params_by_key ON run_params(key, value);

-- Measured numbers. Run-level metrics have layer='' expert=-1 matrix='' domain=''; the labels
-- place finer-grained rows (per layer, expert, matrix, data domain). One value per run, name and
-- labels: writing the same combination again replaces the value.
CREATE TABLE metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,  -- owning run
  name   TEXT NOT NULL,               -- metric name, e.g. "val_loss", "zero_fraction", "bytes"
  value  REAL,                        -- the value; NULL stands for NaN (SQLite stores NaN as NULL)
  unit   TEXT NOT NULL DEFAULT '',    -- e.g. "s", "bytes", "nats/token"; '' when dimensionless
  layer  TEXT NOT NULL DEFAULT '',    -- e.g. "encoder.block.1"; '' for run-level
  expert INTEGER NOT NULL DEFAULT -1, -- expert index; -1 when not per expert
  matrix TEXT NOT NULL DEFAULT '',    -- e.g. "wi", "wo", or a matrix name; '' when not per matrix
  domain TEXT NOT NULL DEFAULT '',    -- data domain, e.g. "sotu"; '' when not per domain
  UNIQUE (run_id, name, layer, expert, matrix, domain)
);
CREATE INDEX metrics_by_name ON metrics(name, layer, expert, matrix, domain);

-- Kernel benchmark timings, each compared against a baseline timed in the same run.
CREATE TABLE kernel_timings (
  id            INTEGER PRIMARY KEY,   -- row id
  run_id        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,  -- owning run
  kernel        TEXT NOT NULL,         -- e.g. "sub1_matvec_avx512"
  device        TEXT NOT NULL,         -- e.g. "cpu:Xeon ...", "cuda:H100"
  rows          INTEGER NOT NULL,      -- matrix rows
  cols          INTEGER NOT NULL,      -- matrix columns
  batch         INTEGER NOT NULL,      -- vectors per call (1 = matvec)
  seconds       REAL NOT NULL,         -- median time per call, seconds (CPU kernels: thread CPU time)
  gbytes_per_s  REAL NOT NULL,         -- bytes read per second / 1e9
  weights_per_s REAL NOT NULL,         -- matrix entries processed per second
  baseline      TEXT NOT NULL DEFAULT '',  -- the kernel it is compared with in the same run
  ratio         REAL NOT NULL DEFAULT 0,   -- baseline seconds / these seconds (> 1 = faster)
  threads       INTEGER NOT NULL DEFAULT 1 -- CPU threads of the call (its seconds: wall clock when > 1)
);
CREATE INDEX kernel_timings_by_run ON kernel_timings(run_id);
CREATE INDEX kernel_timings_by_kernel ON kernel_timings(kernel, rows, cols, batch);

-- Published numbers (paper tables), stored beside our runs for comparison; never produced here.
CREATE TABLE reference_results (
  id         INTEGER PRIMARY KEY,   -- row id
  source     TEXT NOT NULL,         -- e.g. "QMoE MLSys 2024"
  table_name TEXT NOT NULL,         -- e.g. "Table 4", "Figure 5"
  model      TEXT NOT NULL,         -- e.g. "switch-base-128", "switch-c-2048"
  method     TEXT NOT NULL,         -- e.g. "bf16", "rtn", "qmoe-0.5x"
  bits       REAL NOT NULL,         -- bits per weight of the grid: 16 = bf16, 2, 1.5 = ternary
  setting    TEXT NOT NULL DEFAULT '',  -- anything else that selects the cell, e.g. "no mask"
  metric     TEXT NOT NULL,         -- e.g. "c4_val_loss", "size_gb"
  value      REAL NOT NULL,         -- the published value
  note       TEXT NOT NULL DEFAULT '',  -- e.g. "not reproduced here"
  UNIQUE (source, table_name, model, method, bits, setting, metric)
);

INSERT INTO schema_version(version) VALUES (2);
