"""The command line: one parser, one error boundary, dispatch to :mod:`sweeprun.commands`."""
