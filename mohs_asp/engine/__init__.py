"""Solving and answering: the bounds of a run (limits), clingo (solver, reading its model: symbols),
the compiled engine (fastpath) and the contract's answer read off the derived atoms (answer)."""
