"""`python -m bench [--quick]`: see bench/run.py."""

from bench.run import main

if __name__ == "__main__":  # not in the load generator's processes (spawned: they import this module again)
    main()
