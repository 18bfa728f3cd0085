"""Running the glassnet command inside the test process."""

from __future__ import annotations

from glassnet.cli import main


def run(capsys, *argv):
    """``glassnet argv...`` -> (exit code, stdout, stderr); argparse's exits count too."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
