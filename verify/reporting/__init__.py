"""Reports: report.json, tables, plots, atomic writes and the run manifest."""
