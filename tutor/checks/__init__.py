"""What a lesson can check about a run: every check kind (title, parameters, facts, function) in one registry,
and the default messages.
"""
