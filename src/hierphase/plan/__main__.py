"""``python -m hierphase.plan FILE...``: refuse any config file that is more than plain data
(templating, object tags, alias bombs, non-string keys, a key given twice; see
:func:`hierphase.io.read_yaml_strict`), naming the file, before Snakemake reads it: Snakemake
loads ``--configfile`` files, and evaluates a YTE template among them, while it parses its
command line, before the Snakefile runs. ``workflow/with-env.sh`` runs this on every
``--configfile`` it passes on. Exit status 1 on the first refusal."""

from __future__ import annotations

import sys

from .checks import ConfigError
from .config import read_yaml_file


def main(paths: list[str]) -> int:
    for path in paths:
        try:
            read_yaml_file(path)
        except (ConfigError, OSError) as e:
            print(f"Refused before Snakemake reads it: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
