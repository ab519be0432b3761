"""What a lesson can check about a run: every check kind (title, parameters, facts, function) declared once
in one registry (tutor.checks.kinds), the kinds themselves (tutor.checks.builtin), and running them
(tutor.checks.judge).

Importing the package imports tutor.checks.builtin, so ``CHECK_KINDS`` is complete wherever it is read.
"""

from tutor.checks import builtin as builtin  # registers the kinds
