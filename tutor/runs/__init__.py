"""A run from submit to verdict: the run contract (status, snapshot, service), the one grading-and-recording
path, and its two implementations, local (this process) and queue (PostgreSQL + workers).
"""
