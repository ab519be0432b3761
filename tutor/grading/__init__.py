"""Judges a learner's program against a lesson: runs its cases, applies the checks, diagnoses the NameError and
the AttributeError after it, and gives the Verdict.
"""
