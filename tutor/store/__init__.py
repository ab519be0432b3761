"""What lasts: the progress database and its migrations, learners, run records, latest code, the teacher's class
report, and text a teacher can trust. Knows nothing of grading or sandboxes.
"""
