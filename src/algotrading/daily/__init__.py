"""The daily run's steps as plain functions (what each notebook calls), the plan's inputs,
the run-folder catalog, run info, the session to run and what the dashboard reads."""
