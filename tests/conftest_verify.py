"""Shared statistical budget of the verify test suite (imported by tests/test_verify_*.py).

Every Monte-Carlo test is one family of comparisons. The suite as a whole should raise a false
alarm with probability at most ``SUITE_ALPHA``; with at most ``N_STATISTICAL_TESTS`` such tests,
each gets ``TEST_ALPHA`` and, inside a test, a Bonferroni split over its own ``m`` comparisons
(each time point counts). Seeds are fixed, so a test either always passes or always fails.
"""

from verify.statistics.stats import bonferroni_k

SUITE_ALPHA = 0.01
N_STATISTICAL_TESTS = 60  # upper bound on Monte-Carlo tests in tests/test_verify_*.py
TEST_ALPHA = SUITE_ALPHA / N_STATISTICAL_TESTS


def k_for(m: int, n_networks: int) -> float:
    """``t^{-1}_{E-1}(1 - TEST_ALPHA / (2 m))``."""
    return bonferroni_k(m, n_networks, alpha=TEST_ALPHA)
