"""Instructor tools for the course (not part of the ``posecourse`` library students import).

``posecourse_tools.grading``: regenerate the exercises and grade submissions with the checks outside the
students' reach (``python -m posecourse_tools.grading generate|autograde|export``).
"""
