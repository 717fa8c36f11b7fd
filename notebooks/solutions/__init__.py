"""Checks and solutions of the exercises in the course notebooks.

Each ``check_*`` function recomputes the right answer from the model itself (never from a
stored number), so the checks stay valid if the shipped model is retrained. ``solution_*``
functions hold one way to solve each exercise; ``show_solution(n)`` prints it.
"""
