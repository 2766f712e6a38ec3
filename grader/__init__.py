"""The autograder: release, grade, check."""
