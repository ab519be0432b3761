"""Lessons as data: the lesson format (schema), loading and validating lesson files, a lesson as files (hash,
drafts), fixtures, packs.
"""
