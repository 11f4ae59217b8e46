"""``python -m posecourse.train``: the training command (:mod:`posecourse.train.command`). The loop in
:mod:`posecourse.train` knows no command line; this file, which Python runs for ``-m``, hosts it."""
from .command import main

if __name__ == "__main__":  # importing this module (e.g. walking the package) runs nothing
    raise SystemExit(main())
