"""Explain anyone's own script or notebook: run it in the sandbox with no lesson, find the first NameError
(or UnboundLocalError) and name its cause (tutor.lessons.causes); when the program cannot get that far here,
explain from the source and the traceback the person pasted. Owns reading untrusted input (.py, .ipynb,
pasted tracebacks), notebook replay (session order, then Restart & Run All) and the Explanation contract."""
