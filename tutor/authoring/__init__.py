"""Lesson authors' tools: lessons prove themselves, proved versions are published, the studio's engine, new-
lesson skeletons.
"""
