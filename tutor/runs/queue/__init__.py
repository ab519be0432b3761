"""Queue mode: the app's run service over a PostgreSQL job queue (procrastinate), the queue's rows, its schema,
and the worker process with its sweeper.
"""
