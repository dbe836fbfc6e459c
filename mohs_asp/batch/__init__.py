"""Many cases at once: `mohs-asp batch` through a pool of forked workers (pool), on dask or Spark
(cluster), into a file written whole (answers_file)."""
