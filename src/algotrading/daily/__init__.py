"""The daily run's steps as plain functions (what each notebook calls), the run-folder catalog, run info and the session."""
