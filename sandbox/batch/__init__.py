"""Many scenario runs and their results store.

Modules: ``store`` (one Parquet file per run, written atomically; DuckDB queries),
``runner`` (``run_batch``: skip finished runs, chunk, retry after dead workers, count),
``tasks`` (what a worker does with a chunk), ``local`` (the process-pool backend),
``ray_backend`` (the Ray backend), ``preload`` (imported once by the local fork server).
"""
