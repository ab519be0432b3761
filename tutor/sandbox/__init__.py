"""Runs one program in isolation and reports what happened: the runner and its harness, the event protocol,
bubblewrap, cgroups, seccomp, limits, warm sandboxes, the run's result, and the MNIST it serves. Knows nothing
of lessons, grading, runs or the database.
"""
