"""The HTML report: notebook execution and rendering, figures, and the helpers the
report notebook's cells call."""
