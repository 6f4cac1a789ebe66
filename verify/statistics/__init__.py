"""Ensemble statistics: standard errors, Bonferroni k, pass rules, estimators of fixed points and timescales."""
