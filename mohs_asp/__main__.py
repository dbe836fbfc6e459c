try:
    from .cli import main
except ModuleNotFoundError as e:  # run by a Python without the engine's packages: said in one line, no traceback
    if e.name is None or e.name.split(".")[0] == "mohs_asp":
        raise
    import sys

    sys.stderr.write(f"mohs-asp: this Python ({sys.executable}) has no `{e.name}`, which mohs-asp needs: "
                     f"install it with `pip install .` in a virtual environment (README, Quick start)\n")
    sys.exit(4)

main()
